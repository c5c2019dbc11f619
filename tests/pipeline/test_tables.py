"""Result tables from photo rows: a region's fraction is pooled over its photos, and row order never matters."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitiseg.config import load_regions
from vitiseg.io.layout import VisitsLayout
from vitiseg.pipeline.tables import PHOTO_COLUMNS, build_tables

REGIONS = load_regions()
META = pd.DataFrame([{"patient_id": "A", "visit_id": "v1", "visit_index": 0, "date": ""}])
LAYOUT = VisitsLayout(Path("."), [], {"A": ["v1"]}, META, [], [])


def _row(i: int, region: str, skin: int, depig: int, status: str = "ok") -> dict:
    r = {c: "" for c in PHOTO_COLUMNS}
    r.update(patient_id="A", visit_id="v1", region=region, view=f"v{i}", path=f"A/v1/{region}_{i}.png",
             status=status, skin_px=skin, depigmented_px=depig)
    return r


def test_region_fraction_is_pooled_over_photos_not_averaged() -> None:
    rows = [_row(0, "hands", 8000, 2000), _row(1, "hands", 2000, 1500), _row(2, "hands", 0, 0, "error"),
            _row(3, "face", 1000, 100)]
    photos, regions, visits, long = build_tables(rows, LAYOUT, REGIONS)
    r = regions.set_index("region")
    assert r.loc["hands", "fraction"] == pytest.approx(3500 / 10000)  # not (0.25 + 0.75) / 2
    assert (r.loc["hands", "n_photos"], r.loc["hands", "skin_px"], r.loc["hands", "depigmented_px"]) == (3, 10000,
                                                                                                         3500)
    assert r.loc["hands", "vasi_level"] == 25 and r.loc["hands", "contribution"] == pytest.approx(5 * 0.35)
    assert not r.loc["neck", "assessed"] and math.isnan(r.loc["neck", "fraction"])
    v = visits.iloc[0]
    assert v["f_vasi"] == pytest.approx(0.3) and v["t_vasi"] == pytest.approx(0.3 + 1.75)
    assert (v["n_photos"], v["n_failed"], v["t_vasi_partial"]) == (4, 1, True)
    assert list(photos["path"]) == ["A/v1/face_3.png", "A/v1/hands_0.png", "A/v1/hands_1.png", "A/v1/hands_2.png"]
    assert list(long.columns[:2]) == ["patient_id", "visit_id"] and len(long) == 1


photo_counts = st.lists(st.tuples(st.sampled_from(["face", "hands", "trunk"]), st.integers(1, 10**6),
                                  st.floats(0, 1)), min_size=1, max_size=8)


@given(photo_counts, st.randoms())
def test_tables_do_not_depend_on_the_order_of_photos(counts: list, rnd: random.Random) -> None:
    rows = [_row(i, reg, skin, int(skin * f)) for i, (reg, skin, f) in enumerate(counts)]
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    a = build_tables(rows, LAYOUT, REGIONS)
    b = build_tables(shuffled, LAYOUT, REGIONS)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y)
    reg = a[1].set_index("region")
    for name in {r for r, _, _ in counts}:
        skin = sum(s for r, s, _ in counts if r == name)
        dep = sum(int(s * f) for r, s, f in counts if r == name)
        assert 0.0 <= reg.loc[name, "fraction"] == dep / skin <= 1.0
