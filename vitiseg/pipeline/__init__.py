"""``vitiseg run`` and ``vitiseg segment``: photos in, masks, overlays, tables and scores out.

- :mod:`.run`: the whole run over a visits folder (discovery, resume, executors, tables, report).
- :mod:`.photo`: one photo end to end (its own error boundary).
- :mod:`.overlay`: the overlay image a person checks.
- :mod:`.tables`: photos / regions / visits / longitudinal tables from the per-photo rows.
- :mod:`.executors`: in-process, local worker processes, or Ray actors.
- :mod:`.provenance`: package versions, memory and the model key recorded in every run folder.
- :mod:`.segment_folder`: ``vitiseg segment`` for a flat folder of images.
"""
