"""``vitiseg synth cohort`` on real faces: face truth within the TRuE-V facial area (what ``vitiseg run`` measures by
default)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from vitiseg.io.images import read_mask, read_rgb
from vitiseg.synth.trial.render import generate_cohort

from helpers import SHARED_DATA, needs_skin


@pytest.fixture(scope="module")
def real_cohort(tmp_path_factory):
    if not (SHARED_DATA / "skin" / "fasseg_face_skin").is_dir():
        pytest.skip("../shared/data absent")
    pytest.importorskip("mediapipe")
    out = tmp_path_factory.mktemp("truev") / "visits"
    s = generate_cohort(out, "small", seed=2, skin_root=SHARED_DATA / "skin", patients=2, size=320, progress=False)
    return out, Path(s["truth_dir"]), s


@needs_skin
def test_face_truth_is_truev_fraction_of_saved_masks(real_cohort):
    from vitiseg.face import facial_area

    out, truth, s = real_cohort
    assert s["face_area"] == "truev" and s["generator"].endswith("v3")
    rows = list(csv.DictReader((truth / "visits.csv").open()))
    assert len(rows) == 4
    for r in rows:
        rel = Path(r["patient_id"]) / r["visit_id"]
        cls = read_mask(truth / "masks" / rel / "face_front.png")
        area = read_mask(truth / "face_area" / rel / "face_front.png") > 0
        # the saved area is what the pipeline recomputes on the written photo
        fa = facial_area(read_rgb(out / rel / "face_front.jpg"), "front")
        assert fa.status == "ok" and np.array_equal(fa.mask, area)
        skin_a, dep_a = int(((cls > 0) & area).sum()), int(((cls == 2) & area).sum())
        assert (skin_a, dep_a) == (int(r["skin_px_face"]), int(r["depigmented_px_face"]))
        assert float(r["f_vasi"]) == pytest.approx(3 * dep_a / skin_a, abs=2e-6)
        assert float(r["frac_face"]) == pytest.approx(dep_a / skin_a, abs=2e-6)
        skin_all, dep_all = int((cls > 0).sum()), int((cls == 2).sum())
        assert float(r["f_vasi_allskin"]) == pytest.approx(3 * dep_all / skin_all, abs=2e-6)
        assert skin_a < skin_all  # neck, ears, lips, eyelids are outside the facial area
        # planned face fraction holds within the area (render tolerance + the reported landmark excess)
        target = float(r["target_frac_face"])
        tol = 0.001 * target + 2 / skin_a + s["max_face_tolerance_excess"] + 1e-6
        assert abs(dep_a / skin_a - target) <= tol
        assert s["face_photos_over_face_tolerance"] == 0
        t_from_regions = float(r["t_vasi"]) + float(r["f_vasi_allskin"]) - float(r["f_vasi"])
        assert float(r["t_vasi_allskin"]) == pytest.approx(t_from_regions, abs=1e-5)
    pats = list(csv.DictReader((truth / "patients.csv").open()))
    assert {"f_vasi_allskin_baseline", "f_vasi_allskin_final", "f_vasi_allskin_change_pct"} <= set(pats[0])
    summary = json.loads((truth / "summary.json").read_text())
    assert summary["achieved"]["f_vasi_baseline_median"] == pytest.approx(
        float(np.median([float(r["f_vasi"]) for r in rows if r["visit_index"] == "0"])), abs=1e-6)


@needs_skin
def test_truth_area_excludes_lips_and_eyes(real_cohort):
    import cv2

    from vitiseg.face import LEFT_EYE, LIPS_OUTER, RIGHT_EYE, facial_area

    out, truth, _ = real_cohort
    for rel in sorted(p.relative_to(truth / "face_area").parent for p in (truth / "face_area").rglob("*.png")):
        area = read_mask(truth / "face_area" / rel / "face_front.png") > 0
        lm = facial_area(read_rgb(out / rel / "face_front.jpg"), "front").landmarks
        for contour in (LIPS_OUTER, LEFT_EYE, RIGHT_EYE):
            poly = np.zeros(area.shape, np.uint8)
            cv2.fillPoly(poly, [np.round(lm[list(contour)]).astype(np.int32)], 1)
            inner = cv2.erode(poly, np.ones((3, 3), np.uint8)).astype(bool)
            assert inner.sum() > 0 and not (area & inner).any()
        assert area[int(round(lm[4][1])), int(round(lm[4][0]))]  # nose tip is counted
