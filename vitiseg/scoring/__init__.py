"""Scoring: from pixel counts to VASI, from visits to change from baseline, from patients to cohort statistics.

- :mod:`.vasi`: depigmented fraction, VASI levels, F-VASI and T-VASI of a visit.
- :mod:`.longitudinal`: percent change from baseline and responder flags per patient visit.
- :mod:`.cohort_stats`: the per-visit study table of a cohort (medians, paired tests, responder rates).
"""
