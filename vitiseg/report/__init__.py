"""The cohort report of a run folder: one self-contained HTML page plus the cohort tables.

- :mod:`.html`: :func:`~.html.build_report` and the page skeleton; ``style.css`` is its stylesheet (package data).
- :mod:`.sections`: the page's sections; :mod:`.figures`: its plots; :mod:`.format`: escaping and number formats.
"""
