"""The quality list of the report: which photos are flagged and why."""

from __future__ import annotations

import pandas as pd

from vitiseg.report.sections import quality_issues

BASE = {"patient_id": "P1", "visit_id": "v1", "region": "trunk", "view": "", "path": "P1/v1/trunk.jpg",
        "status": "ok", "error": "", "face_area_status": "", "skin_px": "50000", "width": "400", "height": "300",
        "uncertain_share": ""}


def test_uncertain_segmentation_is_flagged_from_5_percent() -> None:
    photos = pd.DataFrame([{**BASE, "uncertain_share": "0.07"},
                           {**BASE, "path": "P1/v1/trunk_2.jpg", "uncertain_share": "0.049"},
                           {**BASE, "path": "P1/v1/trunk_3.jpg", "uncertain_share": ""}])
    q = quality_issues(photos)
    assert list(q["path"]) == ["P1/v1/trunk.jpg"] and q.iloc[0]["severity"] == "warning"
    assert "7.0% of the measured skin" in q.iloc[0]["issue"]


def test_failed_photos_and_little_skin_are_flagged() -> None:
    photos = pd.DataFrame([{**BASE, "status": "error", "error": "truncated image file", "skin_px": ""},
                           {**BASE, "path": "P1/v1/hands.jpg", "region": "hands", "skin_px": "1199"},
                           {**BASE, "path": "P1/v1/neck.jpg", "region": "neck", "skin_px": "1200"}])
    q = quality_issues(photos).set_index("path")
    assert q.loc["P1/v1/trunk.jpg", "severity"] == "error" and "truncated" in q.loc["P1/v1/trunk.jpg", "issue"]
    assert q.loc["P1/v1/hands.jpg", "severity"] == "warning"  # 1199 of 120000 px: under 1 % of the frame
    assert "P1/v1/neck.jpg" not in q.index  # exactly 1 %
