"""vitiseg.synth cohort: face truth within the TRuE-V facial area (what ``vitiseg run`` measures by default)."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

from vitiseg.images import read_mask, read_rgb
from vitiseg.synth import backgrounds as bgm
from vitiseg.synth.cohort import generate_cohort, solve_threshold_in
from vitiseg.synth.render import DL_MIN, RHO_MAX, sample_appearance
from vitiseg.synth.shapes import classes_from_alpha, follicle_map, make_layout

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
needs_skin = pytest.mark.skipif(not (SHARED / "skin" / "fasseg_face_skin").is_dir(), reason="../shared/data absent")


def test_solve_threshold_in_counts_only_the_domain():
    rgb, skin = bgm.procedural_background("face", 160, np.random.default_rng(3))
    lay = make_layout(skin, np.random.default_rng(4), "noise", follicle_density=1.0)
    isl = follicle_map(lay, skin.shape)
    yy, xx = np.mgrid[0:160, 0:160]
    domain = (yy > 40) & (yy < 120) & (xx > 30) & (xx < 130)
    for target in (0.05, 0.4):
        _, alpha = solve_threshold_in(lay, skin, domain, target, isl, tol_px=2)
        cls = classes_from_alpha(alpha, skin)
        n = int((skin & domain).sum())
        got = int(((cls == 2) & domain).sum())
        assert abs(got - target * n) <= 2
        assert ((cls == 2) & ~domain).any()  # lesions are painted on all skin, not only in the domain


def test_appearance_constraints():
    rng = np.random.default_rng(0)
    for ita in (-50.0, -20.0, 0.0, 30.0, 60.0, float("nan")):
        for _ in range(200):
            p = sample_appearance(ita, rng)
            assert p.dL >= DL_MIN and p.rho <= RHO_MAX


@pytest.fixture(scope="module")
def real_cohort(tmp_path_factory):
    if not (SHARED / "skin" / "fasseg_face_skin").is_dir():
        pytest.skip("../shared/data absent")
    pytest.importorskip("mediapipe")
    out = tmp_path_factory.mktemp("truev") / "visits"
    s = generate_cohort(out, "small", seed=2, skin_root=SHARED / "skin", patients=2, size=320, progress=False)
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
