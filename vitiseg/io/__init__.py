"""Input and output at the package boundary.

- :mod:`.images`: read any clinical photo as ``(H, W, 3) uint8`` sRGB; write masks and overlays.
- :mod:`.files`: atomic writes and SHA-256 of files.
- :mod:`.layout`: discover a visits folder (patient / visit / region photos, ``visits.csv``, ``manifest.csv``).
- :mod:`.tables`: write result tables as CSV and SQLite.
- :mod:`.records`: per-photo resume records of a run folder.
"""
