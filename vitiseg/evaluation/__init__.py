"""Evaluation of segmenters and of whole runs against known truth.

- :mod:`.runner`: ``vitiseg evaluate`` (a segmenter against ground-truth masks, run as the pipeline runs it).
- :mod:`.metrics`: per-image and pooled metrics; :mod:`.stratify`: per skin-tone tertile and per labelled group.
- :mod:`.worst_cases`: the sheet of the worst images; :mod:`.cohort_accuracy`: a run's scores against a cohort's truth.
"""
