"""Synthetic trial cohorts (``vitiseg synth cohort``): a visits folder whose true F-VASI / T-VASI follow a preset.

- :mod:`.presets`: cohort presets and the skin photo set that stands in for each region.
- :mod:`.plan`: per-patient target fractions that reproduce the preset's medians and responder rates.
- :mod:`.scene`: one region photo per visit, re-photographed and thresholded for its target.
- :mod:`.render`: :func:`~.render.generate_cohort`, the folder and its truth.
- Tracking truth (options, off by default): :mod:`.motion` (camera motion between visits), :mod:`.repigment`
  (lesions repigmenting from the margin, from follicle-like islands, or both), :mod:`.tracking_truth` (the true
  transforms, change maps and patterns in ``TRUTH/tracking/``).
"""
