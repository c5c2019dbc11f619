"""Input and output at the package boundary.

- :mod:`.images`: read any clinical photo as ``(H, W, 3) uint8`` sRGB; write masks and overlays.
- :mod:`.files`: atomic writes, SHA-256 of files, paths kept inside a folder, stale temporary files.
- :mod:`.layout`: discover a visits folder (patient / visit / region photos, ``visits.csv``, ``manifest.csv``).
- :mod:`.visit_sheets`: read ``manifest.csv`` and ``visits.csv`` strictly; odd rows are warnings, never guesses.
- :mod:`.pseudonym`: keyed pseudonyms of patient IDs for ``--pseudonymise``.
- :mod:`.tables`: write result tables as CSV (formula-neutralised; the one CSV writer) and SQLite.
- :mod:`.records`: per-photo resume records of a run folder.
- :mod:`.lock`: one run at a time per output folder.
"""
