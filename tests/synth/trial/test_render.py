"""``vitiseg synth cohort``: the rendered truth is recomputed from the masks and matches the plan; determinism;
the folder is a visits folder the pipeline reads."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from vitiseg.config import load_regions
from vitiseg.io.images import read_mask, read_rgb
from vitiseg.io.layout import discover
from vitiseg.synth.render import truth_from_mask
from vitiseg.synth.trial.presets import PRESETS, REGIONS
from vitiseg.synth.trial.render import generate_cohort

from helpers import SHARED_DATA, needs_skin


def test_cohort_rendered_truth_matches_masks_and_plan(tmp_path):
    out = tmp_path / "visits"
    s = generate_cohort(out, "ruxolitinib_wk12", seed=4, patients=3, size=160, background="procedural",
                        progress=False)
    truth = Path(s["truth_dir"])
    assert truth == tmp_path / "visits_truth"
    assert s["face_area"] == "skin" and s["max_tolerance_excess"] == 0.0
    hu = {r: sp.hand_units for r, sp in load_regions().regions.items()}
    rows = list(csv.DictReader((truth / "visits.csv").open()))
    assert len(rows) == 6
    for r in rows:
        fr = {}
        for reg in REGIONS:
            name = "face_front" if reg == "face" else reg
            photo = read_rgb(out / r["patient_id"] / r["visit_id"] / f"{name}.jpg")
            cls = read_mask(truth / "masks" / r["patient_id"] / r["visit_id"] / f"{name}.png")
            assert photo.shape[:2] == cls.shape and max(cls.shape) == 160
            # depigmented pixels are lighter than the healthy skin of the same photo (the masks describe the photo)
            if (cls == 2).sum() > 50:
                assert photo[cls == 2].mean() > photo[cls == 1].mean() + 5
            t = truth_from_mask(cls)
            assert t["skin_px"] == int(r[f"skin_px_{reg}"]) and t["depigmented_px"] == int(r[f"depigmented_px_{reg}"])
            fr[reg] = t["fraction"]
            target = float(r[f"target_frac_{reg}"])
            assert abs(fr[reg] - target) <= 0.001 * target + 2 / t["skin_px"] + 1e-6
        assert float(r["f_vasi"]) == pytest.approx(3 * fr["face"], abs=2e-6)
        assert float(r["t_vasi"]) == pytest.approx(sum(hu[g] * fr[g] for g in REGIONS), abs=2e-5)
        # procedural faces have no landmarks: the saved facial area is the whole photo, all-skin == TRuE-V truth
        area = read_mask(truth / "face_area" / r["patient_id"] / r["visit_id"] / "face_front.png")
        assert (area == 255).all() and r["f_vasi_allskin"] == r["f_vasi"] and r["t_vasi_allskin"] == r["t_vasi"]
    pro = list(csv.DictReader((out / "visits.csv").open()))
    assert [(p["patient_id"], p["visit_id"]) for p in pro] == [(r["patient_id"], r["visit_id"]) for r in rows]
    assert all(0 <= int(p["dlqi"]) <= 30 for p in pro)
    assert all(p["vns"] == "" or 1 <= int(p["vns"]) <= 5 for p in pro)
    pats = list(csv.DictReader((truth / "patients.csv").open()))
    for p in pats:
        ch = float(p["f_vasi_change_pct"])
        assert p["f_vasi75"] == str(ch <= -75) and p["f_vasi90"] == str(ch <= -90)


def test_cohort_small_preset_is_deterministic(tmp_path):
    a = generate_cohort(tmp_path / "a", "small", seed=1, size=96, background="procedural", progress=False)
    b = generate_cohort(tmp_path / "b", "small", seed=1, size=96, background="procedural", progress=False)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files_a) == 3 * 2 * 7 + 1
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (Path(a["truth_dir"]) / "visits.csv").read_bytes() == (Path(b["truth_dir"]) / "visits.csv").read_bytes()


def test_cohort_folder_is_discovered_by_the_pipeline_layout(tmp_path):
    generate_cohort(tmp_path / "v", "small", seed=0, size=96, background="procedural", progress=False)
    lay = discover(tmp_path / "v", load_regions())
    assert len(lay.photos) == 42 and not any(p.error for p in lay.photos)
    assert {p.region for p in lay.photos} == set(REGIONS)
    assert all(v == ["baseline", "week12"] for v in lay.visit_order.values())
    assert {"vns", "dlqi"} <= set(lay.pro_columns)


@pytest.mark.slow
@needs_skin
def test_ruxolitinib_cohort_rendered_on_real_skin_hits_figures(tmp_path):
    """Full 50-patient render (~3-4 min): the truth table computed from the masks hits the published figures."""
    s = generate_cohort(tmp_path / "v", "ruxolitinib_wk12", seed=0, skin_root=SHARED_DATA / "skin", progress=False)
    st, tg = s["achieved"], PRESETS["ruxolitinib_wk12"].targets
    for k in ("f_vasi_baseline_median", "f_vasi_final_median", "t_vasi_baseline_median", "t_vasi_final_median"):
        assert st[k] == pytest.approx(getattr(tg, k), rel=0.005), k
    assert st["f_vasi75_rate"] == 0.40 and st["f_vasi90_rate"] == 0.10 and st["t_vasi50_rate"] == 0.42
