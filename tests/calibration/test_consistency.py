"""Visit-to-visit consistency of the healthy skin's colour: what is compared, and what is flagged and why."""

from __future__ import annotations

import pandas as pd

from vitiseg.calibration.consistency import COLUMNS, skin_colour_changes
from vitiseg.config import ConsistencyConfig

VISITS = pd.DataFrame({"patient_id": ["P1"] * 3 + ["P2"] * 2, "visit_id": ["week12", "baseline", "week4", "v1", "v2"],
                       "visit_index": ["2", "0", "1", "0", "1"]})


def photo(pid, vid, region, L, ita, chart="corrected", view="", status="ok", path=None) -> dict:
    return {"patient_id": pid, "visit_id": vid, "region": region, "view": view, "status": status, "chart": chart,
            "skin_L": "" if L is None else str(L), "skin_ita": "" if ita is None else str(ita),
            "path": path or f"{pid}/{vid}/{region}.jpg"}


def test_changes_against_the_first_visit_in_visit_order() -> None:
    photos = pd.DataFrame([
        photo("P1", "week12", "face", 60.0, 30.0),  # +5 L* since baseline: flagged, charts on both
        photo("P1", "baseline", "face", 55.0, 28.0),
        photo("P1", "week4", "face", 56.0, 29.5),  # within 3 L* / 4 deg
        photo("P1", "week4", "palm", 70.0, 50.0),  # the palm photo is not compared
        photo("P2", "v1", "hands", None, None),  # no healthy skin at v1: v2 has nothing to compare with
        photo("P2", "v2", "hands", 40.0, 10.0),
        photo("P2", "v1", "trunk", 50.0, 20.0, chart="none"),
        photo("P2", "v2", "trunk", 50.5, 25.0),  # ITA +5 deg, no chart at v1
        photo("P2", "v2", "face", 50.0, 20.0, status="error"),
    ])
    out = skin_colour_changes(photos, VISITS, ConsistencyConfig(max_delta_L=3.0, max_delta_ita=4.0))
    assert list(out.columns) == COLUMNS
    assert out[["patient_id", "region", "baseline_visit", "visit_id", "flagged"]].values.tolist() == [
        ["P1", "face", "baseline", "week4", False], ["P1", "face", "baseline", "week12", True],
        ["P2", "trunk", "v1", "v2", True]]
    wk12 = out.iloc[1]
    assert (wk12["delta_L"], wk12["delta_ita"], wk12["charts"]) == (5.0, 2.0, "both")
    assert wk12["reason"] == ("healthy skin L* +5.0, ITA +2.0 deg since baseline: beyond the chart calibration's "
                              "error, the skin's colour changed (tan?)")
    trunk = out.iloc[2]
    assert trunk["charts"] == "not both" and "no colour chart on both photos" in trunk["reason"]
    assert out.iloc[0]["reason"] == ""


def test_thresholds_come_from_the_config() -> None:
    photos = pd.DataFrame([photo("P1", "baseline", "face", 55.0, 28.0), photo("P1", "week4", "face", 57.0, 29.0)])
    assert not skin_colour_changes(photos, VISITS, ConsistencyConfig())["flagged"].any()
    tight = skin_colour_changes(photos, VISITS, ConsistencyConfig(max_delta_L=1.5, max_delta_ita=4.0))
    assert tight["flagged"].tolist() == [True]
