"""Training of U-Net segmenters (``vitiseg train``).

- :mod:`.config`: the typed training config; :mod:`.data`: data sources with partial labels;
  :mod:`.augment`: CPU augmentation; :mod:`.batches` / :mod:`.device_batches`: deterministic batches;
  :mod:`.loss`: the partial-label loss; :mod:`.schedule`: the learning rate; :mod:`.trainer`: the loop,
  validation, checkpoints and exported model folders.
"""
