"""Segmentation: every pixel of a photo labelled background (0), healthy skin (1) or depigmented skin (2).

- :mod:`.base`: the :class:`~.base.Segmenter` contract and :func:`~.base.segment_photo`, the one path every photo takes.
- :mod:`.load`: :func:`~.load.load_segmenter`, by name (``default``, ``classical``) or model folder.
- :mod:`.classical`: the training-free CIELAB baseline.
- :mod:`.artifact`: model folders (``config.json`` + ``model.safetensors``).
- :mod:`.unet`: U-Net inference and decoding; :mod:`.refine`: optional per-photo colour refinement.
"""
