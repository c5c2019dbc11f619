"""Cohort presets of ``vitiseg synth cohort``: size, visits, photo size and the published figures to reproduce, and
which real skin photo set stands in for each body region."""

from __future__ import annotations

from pydantic import Field

from vitiseg.config import StrictModel

REGIONS = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
NON_FACE = REGIONS[1:]
PHOTO_NAME = {r: ("face_front" if r == "face" else r) for r in REGIONS}
REAL_STANDIN = {
    "face": "fasseg_face_skin", "neck": "pratheepan_skin", "hands": "hgr_hands_subset",
    "upper_limbs": "hgr_hands_subset", "trunk": "abdominal_skin", "lower_limbs": "abdominal_skin",
    "feet": "hgr_hands_subset",
}
PROCEDURAL_PART = {
    "face": "face", "neck": "neck", "hands": "hand", "upper_limbs": "limb", "trunk": "trunk",
    "lower_limbs": "limb", "feet": "foot",
}
REGION_KINDS = {
    "face": ("periorificial", "blobs", "noise", "confetti"), "neck": ("blobs", "noise", "segmental"),
    "hands": ("acral", "blobs", "noise"), "upper_limbs": ("blobs", "noise", "acral"),
    "trunk": ("noise", "blobs", "sheet", "segmental"), "lower_limbs": ("noise", "blobs", "sheet"),
    "feet": ("acral", "blobs"),
}
MARGIN = 0.02  # min distance of any planned change ratio from a responder threshold
MIN_AREA_SKIN_SHARE = 0.25  # a face background needs >= this share of its skin inside the TRuE-V facial area
FACE_AREA_ITERATIONS = 4  # max renders per face photo to converge on the rendered photo's facial area
MAX_FACE_TRIES = 40  # face backgrounds tried per patient before giving up
FACE_LANDMARK_TOL = 0.005  # extra relative face tolerance when the rendered photo's landmarks do not settle



class CohortTargets(StrictModel):
    """Published cohort figures to reproduce (ratios are week-12 / baseline; rates are shares of patients)."""

    f_vasi_baseline_median: float = Field(gt=0, le=3)
    f_vasi_final_median: float = Field(ge=0, le=3)
    f_vasi75_rate: float = Field(ge=0, le=1)
    f_vasi90_rate: float = Field(ge=0, le=1)
    t_vasi_baseline_median: float = Field(gt=0, le=100)
    t_vasi_final_median: float = Field(ge=0, le=100)
    t_vasi50_rate: float = Field(ge=0, le=1)
    bsa_min: float = Field(0.5, ge=0)
    bsa_max: float = Field(10.0, le=100)


class CohortPreset(StrictModel):
    """A cohort recipe: size, visits (id -> day offset), photo size, and optional targets."""

    name: str
    patients: int = Field(gt=0)
    size: int = Field(ge=64)
    visits: dict[str, int]
    targets: CohortTargets | None = None
    source: str = ""


PRESETS: dict[str, CohortPreset] = {
    "ruxolitinib_wk12": CohortPreset(
        name="ruxolitinib_wk12", patients=50, size=768, visits={"baseline": 0, "week12": 84},
        targets=CohortTargets(
            f_vasi_baseline_median=1.0, f_vasi_final_median=0.34, f_vasi75_rate=0.40, f_vasi90_rate=0.10,
            t_vasi_baseline_median=2.09, t_vasi_final_median=0.95, t_vasi50_rate=0.42, bsa_min=0.5, bsa_max=10.0,
        ),
        source="week-12 figures given in vitiseg issue 3 (ruxolitinib cream, adults, facial involvement, 0.5-10 % BSA)",
    ),
    "small": CohortPreset(name="small", patients=3, size=384, visits={"baseline": 0, "week12": 84}),
    # the bundled example (scripts/make_example.py): with real photos, only regions a real photo shows
    # (see .standins; T-VASI partial without lower limbs and feet)
    "example": CohortPreset(name="example", patients=3, size=512, visits={"baseline": 0, "week12": 84}),
}
