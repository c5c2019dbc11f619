"""Areas in cm2: depigmented patches of a photo, and the visit's areas in the patient's own hand units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from vitiseg.calibration.areas import HAND_UNIT_COLUMNS, hand_unit_table, patch_table, patches
from vitiseg.io.images import write_png


def classes() -> np.ndarray:
    c = np.ones((60, 80), np.uint8)
    c[5:15, 5:25] = 2  # 200 px
    c[30:40, 40:45] = 2  # 50 px
    c[50:52, 70:72] = 2  # 4 px: a speck, not a patch
    return c


def test_patches_are_connected_depigmented_components() -> None:
    out = patches(classes(), None, 10.0)
    assert [(p["area_px"], p["area_cm2"]) for p in out] == [(200, 2.0), (50, 0.5)]
    assert (out[0]["centroid_x"], out[0]["centroid_y"]) == (14.5, 9.5)
    area = np.zeros((60, 80), bool)
    area[:, 30:] = True  # a facial area that holds only the second patch
    assert [p["area_px"] for p in patches(classes(), area, 10.0)] == [50]


def test_patch_table_reads_the_masks_of_photos_with_a_scale(tmp_path) -> None:
    write_png(tmp_path / "masks/P1/v1/trunk.png", classes())
    rows = [{"patient_id": "P1", "visit_id": "v1", "region": "trunk", "view": "", "path": "P1/v1/trunk.jpg",
             "status": "ok", "mask": "masks/P1/v1/trunk.png", "face_area": "", "px_per_cm": "5"},
            {"patient_id": "P1", "visit_id": "v1", "region": "face", "view": "", "path": "P1/v1/face.jpg",
             "status": "ok", "mask": "masks/missing.png", "face_area": "", "px_per_cm": ""}]
    t = patch_table(pd.DataFrame(rows), tmp_path)
    assert t[["path", "patch", "area_px", "area_cm2"]].values.tolist() == [
        ["P1/v1/trunk.jpg", 1, 200, 8.0], ["P1/v1/trunk.jpg", 2, 50, 2.0]]


def test_hand_unit_table_converts_to_the_patients_own_hand_units() -> None:
    def row(pid, vid, region, skin="", depig="", hu=""):
        return {"patient_id": pid, "visit_id": vid, "region": region, "status": "ok", "skin_cm2": skin,
                "depigmented_cm2": depig, "hand_unit_cm2": hu}

    photos = pd.DataFrame([
        row("P1", "v1", "palm", hu="150"), row("P1", "v1", "palm", hu="170"),  # two palm photos: mean 160
        row("P1", "v1", "trunk", "320", "80"), row("P1", "v1", "trunk", "160", "0"),  # pooled: 480 / 80 cm2
        row("P1", "v2", "trunk", "400", "40"),  # no palm at v2: the patient's median
        row("P1", "v2", "face"),  # no scale: not in the table
        row("P2", "v1", "trunk", "100", "10"),  # no palm photo at all
    ])
    regions = pd.DataFrame([
        {"patient_id": "P1", "visit_id": "v1", "region": "trunk", "hand_units": "26.0", "fraction": "0.1667"},
        {"patient_id": "P1", "visit_id": "v2", "region": "trunk", "hand_units": "26.0", "fraction": "0.1"}])
    t = hand_unit_table(photos, regions)
    assert list(t.columns) == HAND_UNIT_COLUMNS
    assert t[["visit_id", "hand_unit_cm2", "hand_unit_source", "skin_hu", "depigmented_hu"]].values.tolist() == [
        ["v1", 160.0, "this visit", 3.0, 0.5], ["v2", 160.0, "median of the patient's visits", 2.5, 0.25]]
    assert t["lund_browder_depigmented_hu"].tolist() == pytest.approx([26 * 0.1667, 2.6], abs=1e-4)
    assert hand_unit_table(photos[photos["region"] != "palm"], regions).empty
