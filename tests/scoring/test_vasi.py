"""VASI scoring maths: exact values and hypothesis properties (bounds, monotonicity, fixed points)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitiseg.config import load_regions
from vitiseg.scoring.vasi import VASI_LEVELS, fraction, mask_counts, score_visit, vasi_level

REGIONS = load_regions()
NAMES = list(REGIONS.regions)


def test_exact_visit_score() -> None:
    s = score_visit({"face": 0.5, "hands": 0.1, "trunk": 0.02}, REGIONS)
    assert s.f_vasi == pytest.approx(1.5)
    assert s.t_vasi == pytest.approx(1.5 + 0.5 + 0.52)
    assert s.t_vasi_partial and s.missing_regions == ("neck", "upper_limbs", "lower_limbs", "feet")
    assert dict(s.region_vasi) == pytest.approx({"face": 1.5, "hands": 0.5, "trunk": 0.52})
    full = score_visit({n: 1.0 for n in NAMES}, REGIONS)
    assert (full.f_vasi, full.t_vasi, full.t_vasi_partial) == (3.0, 100.0, False)
    none = score_visit({}, REGIONS)
    assert math.isnan(none.f_vasi) and math.isnan(none.t_vasi) and none.t_vasi_partial  # nothing assessed: not 0
    nan_face = score_visit({"face": float("nan"), "neck": 0.5}, REGIONS)
    assert math.isnan(nan_face.f_vasi) and "face" in nan_face.missing_regions and nan_face.t_vasi == 3.0
    with pytest.raises(KeyError, match="elbow"):
        score_visit({"elbow": 0.1}, REGIONS)
    with pytest.raises(ValueError, match="out of"):
        score_visit({"face": 1.2}, REGIONS)


def test_vasi_levels() -> None:
    assert [vasi_level(f) for f in (0, 0.04, 0.06, 0.17, 0.18, 0.5, 0.62, 0.63, 0.83, 0.95, 0.96, 1)] == [
        0, 0, 10, 10, 25, 50, 50, 75, 90, 90, 100, 100]
    assert vasi_level(0.175) == 10  # tie between 10 and 25 goes to the lower level
    assert vasi_level(float("nan")) is None
    with pytest.raises(ValueError):
        vasi_level(1.01)


def test_mask_counts_and_fraction() -> None:
    cls = np.array([[0, 1, 2], [2, 2, 1]], np.uint8)
    assert mask_counts(cls) == (5, 3)
    area = np.array([[True, True, True], [False, False, False]])
    assert mask_counts(cls, area) == (2, 1)
    assert fraction(4, 1) == 0.25 and math.isnan(fraction(0, 0))
    with pytest.raises(ValueError):
        fraction(3, 4)


fractions = st.floats(0, 1, allow_nan=False)
region_maps = st.dictionaries(st.sampled_from(NAMES), fractions)


@given(region_maps)
def test_scores_are_bounded(fr: dict) -> None:
    s = score_visit(fr, REGIONS)
    assert 0.0 <= s.t_vasi <= 100.0 + 1e-9 if fr else math.isnan(s.t_vasi)
    if "face" in fr:
        assert 0.0 <= s.f_vasi <= 3.0 + 1e-12
        assert s.f_vasi <= s.t_vasi + 1e-12
    assert s.t_vasi_partial == (len(fr) < len(NAMES))


@given(region_maps, st.sampled_from(NAMES), fractions)
def test_scores_are_monotone_in_depigmented_area(fr: dict, region: str, more: float) -> None:
    base = score_visit(fr, REGIONS)
    fr2 = dict(fr)
    fr2[region] = max(fr.get(region, 0.0), more)
    bigger = score_visit(fr2, REGIONS)
    if region in fr:
        assert bigger.t_vasi >= base.t_vasi - 1e-9
    if region == "face" and "face" in fr:
        assert bigger.f_vasi >= base.f_vasi


@given(st.sampled_from(VASI_LEVELS))
def test_vasi_level_fixed_points(level: int) -> None:
    assert vasi_level(level / 100) == level


@given(st.integers(1, 10**6), st.integers(0, 10**6), st.integers(0, 10**6))
def test_fraction_is_monotone_in_depigmented_px(skin: int, d1: int, d2: int) -> None:
    d1, d2 = sorted((min(d1, skin), min(d2, skin)))
    assert 0.0 <= fraction(skin, d1) <= fraction(skin, d2) <= 1.0
