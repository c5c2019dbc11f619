"""Follow-up tracking: where did it repigment?

- :mod:`.register`: a follow-up photo aligned to the baseline photo of the same patient, region and view (face
  landmarks, or features + homography + ECC on the skin), with a quality score and a ``not_aligned`` status.
- :mod:`.changes`: the change map of an aligned pair (repigmented, newly depigmented, stable) and its areas.
- :mod:`.patches`: the baseline's depigmented patches, their share repigmented and pattern at each visit.
- :mod:`.step`: the step of ``vitiseg run`` that does this for every follow-up photo of a run folder.
"""
