"""vitiseg.synth: exact masks and truth, lesions only on skin, determinism, dataset and cohort contracts."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

from vitiseg.cli import main as vitiseg_main
from vitiseg.config import load_regions
from vitiseg.images import read_mask, read_rgb, write_jpeg, write_png
from vitiseg.synth import backgrounds as bgm
from vitiseg.synth.cohort import PRESETS, REGIONS, cohort_statistics, generate_cohort, plan_cohort
from vitiseg.synth.render import render_sample, truth_from_mask
from vitiseg.synth.shapes import KINDS, classes_from_alpha, depigmentation_alpha, follicle_map, make_layout

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _bg(part: str = "face", size: int = 128, seed: int = 0):
    return bgm.procedural_background(part, size, np.random.default_rng(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_render_masks_exact_and_only_on_skin(kind):
    rgb, skin = _bg("face" if kind == "periorificial" else "trunk", 128, 1)
    out, cls, truth = render_sample(rgb, skin, np.random.default_rng(7), target_fraction=0.25, kind=kind)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and cls.dtype == np.uint8
    assert set(np.unique(cls)) <= {0, 1, 2}
    assert np.array_equal(cls > 0, skin)  # skin exactly = classes 1 + 2; class 2 never off skin
    assert (cls == 2).any()
    counts = np.bincount(cls.ravel(), minlength=3)
    assert truth["area_px"] == {"background": counts[0], "skin": counts[1], "depigmented": counts[2]}
    assert truth["skin_px"] == counts[1] + counts[2] and truth["depigmented_px"] == counts[2]
    assert truth["fraction"] == counts[2] / (counts[1] + counts[2])


def test_lesion_pixels_are_modulated_and_background_untouched():
    rgb, skin = _bg("hand", 128, 2)
    out, cls, _ = render_sample(rgb, skin, np.random.default_rng(3), target_fraction=0.3, photo_strength=0.0)
    assert np.array_equal(out[~skin], rgb[~skin])  # no camera model: off-skin pixels bit-identical
    lab_in = out[cls == 2].astype(float).mean(0)
    lab_src = rgb[cls == 2].astype(float).mean(0)
    assert lab_in.mean() > lab_src.mean() + 5  # depigmented = lighter
    # texture kept: the lesion is not a flat colour
    assert out[cls == 2].astype(float).std(0).mean() > 1.0


def test_lesion_free_twin_differs_only_by_the_painting():
    rgb, skin = _bg("trunk", 128, 6)
    for strength in (0.0, 1.0):
        out, cls, truth = render_sample(rgb, skin, np.random.default_rng(9), target_fraction=0.3,
                                        photo_strength=strength)
        twin, cls2, truth2 = render_sample(rgb, skin, np.random.default_rng(9), target_fraction=0.3,
                                           photo_strength=strength, paint_lesions=False)
        assert np.array_equal(cls, cls2) and truth == truth2 and (cls == 2).any()
        if strength == 0.0:
            assert np.array_equal(twin, rgb)  # nothing painted, no camera model
        differs = (out != twin).any(-1)
        if truth["photo"]["blur_sigma"] == 0:  # same noise: only painted pixels (alpha > 0, a few px past class 2) differ
            assert differs[cls == 2].mean() > 0.95 and not differs[~skin].any()


def test_visibility_summary_exact():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sv", Path(__file__).resolve().parents[1] / "scripts" /
                                                  "synth_visibility.py")
    sv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sv)
    de = np.array([0.5, 1.5, 2.5, 4.0, 10.0, 20.0, 30.0, 40.0])
    s = sv.summarise(de, (1.0, 3.0, 5.0))
    assert s["1"] == {"share_below": 1 / 8, "dice_ceiling": 2 * 7 / 15}
    assert s["3"] == {"share_below": 3 / 8, "dice_ceiling": 2 * 5 / 13}
    assert s["5"] == {"share_below": 4 / 8, "dice_ceiling": 2 * 4 / 12}


def test_alpha_threshold_rule_is_exact():
    rgb, skin = _bg("trunk", 96, 4)
    rng = np.random.default_rng(5)
    lay = make_layout(skin, rng, "blobs", follicle_density=3.0)
    lay.trichrome_px, lay.trichrome_in, lay.trichrome_out = 3.0, 0.6, 0.4
    isl = follicle_map(lay, skin.shape)
    alpha = depigmentation_alpha(lay, skin, 0.6, isl)
    core = skin & (lay.field > 0.6)
    cls = classes_from_alpha(alpha, skin)
    assert np.array_equal(cls == 2, core & (alpha >= 0.5))
    assert not (cls == 2)[~core].any()  # trichrome outer band / soft border never counted
    assert (alpha[~skin] == 0).all()
    assert ((cls == 1) & core).any()  # pigment islands inside the lesion are healthy skin


def test_exact_target_fraction():
    rgb, skin = _bg("limb", 160, 6)
    for target in (0.003, 0.2, 0.8):
        _, cls, truth = render_sample(rgb, skin, np.random.default_rng(8), target_fraction=target, exact=True)
        assert abs(truth["fraction"] - target) <= 0.001 * target + 2 / truth["skin_px"]


def test_same_seed_same_bytes_and_seed_matters():
    rgb, skin = _bg("face", 128, 9)
    a = render_sample(rgb, skin, np.random.default_rng(11), jpeg=True)
    b = render_sample(rgb, skin, np.random.default_rng(11), jpeg=True)
    c = render_sample(rgb, skin, np.random.default_rng(12), jpeg=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[1], c[1]) or not np.array_equal(a[0], c[0])


def test_zero_target_gives_no_lesion():
    rgb, skin = _bg("hand", 96, 1)
    _, cls, truth = render_sample(rgb, skin, np.random.default_rng(0), target_fraction=0.0)
    assert truth["depigmented_px"] == 0 and not (cls == 2).any()


# ---------------------------------------------------------------- dataset command on a fake skin root


def _fake_skin_root(root: Path) -> Path:
    rng = np.random.default_rng(0)
    layouts = {"fake_faces": ({"train": 6, "val": 3}, "face"), "fake_hands": ({"group_a": 5}, "hand")}
    for set_name, (keys, part) in layouts.items():
        d = root / set_name
        splits = {}
        k = 0
        for key, n in keys.items():
            splits[key] = []
            for _ in range(n):
                rgb, skin = bgm.procedural_background(part, 96, rng)
                bid = f"{set_name}_{k:03d}"
                write_jpeg(d / "images" / f"{bid}.jpg", rgb, 95)
                write_png(d / "masks" / f"{bid}.png", skin.astype(np.uint8) * 255)
                splits[key].append(bid)
                k += 1
        (d / "splits.json").write_text(json.dumps(splits))
    return root


def _dataset(skin_root: Path, out: Path, n: int, *extra: str) -> int:
    return vitiseg_main(["synth", "dataset", "--skin-root", str(skin_root), "--out", str(out), "--n", str(n),
                         "--seed", "3", "--size", "64", "--sets", "fake_faces,fake_hands", *extra])


def test_dataset_contract_resume_and_determinism(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    out = tmp_path / "ds"
    assert _dataset(root, out, 12) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [r["id"] for r in rows] == [f"s{i:06d}" for i in range(12)]
    assert list(rows[0]) == ["id", "set", "background", "split", "fraction", "skin_px", "depigmented_px", "ita_deg",
                             "kind"]
    refs = {(r.set, r.bg_id): r for r in bgm.list_backgrounds(root, ("fake_faces", "fake_hands"))}
    for r in rows:
        cls = read_mask(out / "masks" / f"{r['id']}.png")
        img = read_rgb(out / "images" / f"{r['id']}.jpg")
        truth = json.loads((out / "truth" / f"{r['id']}.json").read_text())
        assert img.shape == (64, 64, 3) and cls.shape == (64, 64)
        t = truth_from_mask(cls)
        assert (t["skin_px"], t["depigmented_px"]) == (int(r["skin_px"]), int(r["depigmented_px"]))
        assert (truth["skin_px"], truth["depigmented_px"]) == (t["skin_px"], t["depigmented_px"])
        assert abs(float(r["fraction"]) - t["fraction"]) < 1e-6
        assert r["split"] == refs[(r["set"], r["background"])].split
    before = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    # resume: remove one finished sample, re-run and grow: same bytes for the old ones
    (out / "truth" / "s000004.json").unlink()
    assert _dataset(root, out, 14) == 0
    after = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    assert all(after[k] == v for k, v in before.items()) and len(after) == 14
    # a second folder with the same seed is byte-identical
    out2 = tmp_path / "ds2"
    assert _dataset(root, out2, 14) == 0
    for sub in ("images", "masks", "truth"):
        for p in (out / sub).iterdir():
            assert p.read_bytes() == (out2 / sub / p.name).read_bytes(), p
    # rendering in 2 processes gives the same folder
    out3 = tmp_path / "ds3"
    assert _dataset(root, out3, 14, "--workers", "2") == 0
    for sub in ("images", "masks", "truth"):
        assert sorted(p.name for p in (out3 / sub).iterdir()) == sorted(p.name for p in (out / sub).iterdir())
        for p in (out / sub).iterdir():
            assert p.read_bytes() == (out3 / sub / p.name).read_bytes(), p
    assert (out3 / "index.csv").read_bytes() == (out / "index.csv").read_bytes()
    # other settings into the same folder are refused
    assert _dataset(root, out, 14, "--split", "train") == 2


def test_split_rule(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    refs = bgm.list_backgrounds(root, ("fake_faces", "fake_hands"))
    assert len({(r.set, r.bg_id) for r in refs}) == len(refs)  # one split per background
    faces = {r.bg_id: r.split for r in refs if r.set == "fake_faces"}
    for bid, s in faces.items():  # train/val only: val kept, test carved from train by hash
        orig = "train" if int(bid[-3:]) < 6 else "val"
        expect = "test" if orig == "train" and bgm.hash_bucket("fake_faces", bid) < 15 else orig
        assert s == expect
    for r in refs:
        if r.set == "fake_hands":
            b = bgm.hash_bucket("fake_hands", r.bg_id)
            assert r.split == ("train" if b < 70 else "val" if b < 85 else "test")


# ---------------------------------------------------------------- cohort


def test_ruxolitinib_plan_hits_published_figures():
    pr = PRESETS["ruxolitinib_wk12"]
    for seed in (0, 1, 2):
        plans = plan_cohort(pr, np.random.default_rng([seed, 1]))
        rows = [{"patient_id": p["patient_id"], "visit_id": v, "f_vasi": p["f"][i], "t_vasi": p["t"][i]}
                for p in plans for i, v in enumerate(pr.visits)]
        st = cohort_statistics(rows, list(pr.visits))
        tg = pr.targets
        assert st["n"] == 50
        assert st["f_vasi_baseline_median"] == pytest.approx(tg.f_vasi_baseline_median, abs=1e-4)
        assert st["f_vasi_final_median"] == pytest.approx(tg.f_vasi_final_median, abs=1e-4)
        assert st["t_vasi_baseline_median"] == pytest.approx(tg.t_vasi_baseline_median, abs=1e-4)
        assert st["t_vasi_final_median"] == pytest.approx(tg.t_vasi_final_median, abs=1e-4)
        assert st["f_vasi75_rate"] == 0.40 and st["f_vasi90_rate"] == 0.10 and st["t_vasi50_rate"] == 0.42
        assert st["face_involved_baseline_rate"] == 1.0
        assert 0.5 <= st["bsa_baseline_min"] and st["bsa_baseline_max"] <= 10.0
        hu = {r: s.hand_units for r, s in load_regions().regions.items()}
        for p in plans:
            for i in range(len(pr.visits)):
                fr = p["frac"][i]
                assert all(0 <= fr[r] <= 1 for r in REGIONS)
                assert p["t"][i] == pytest.approx(sum(hu[r] * fr[r] for r in REGIONS), rel=1e-9)
                assert p["f"][i] == pytest.approx(3 * fr["face"], rel=1e-9)
            for thr, val in ((0.25, p["f"][1] / p["f"][0]), (0.10, p["f"][1] / p["f"][0]),
                             (0.5, p["t"][1] / p["t"][0])):
                assert abs(val - thr) >= 0.02 - 1e-9  # no flag can flip on rendering error


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
            assert (out / r["patient_id"] / r["visit_id"] / f"{name}.jpg").is_file()
            cls = read_mask(truth / "masks" / r["patient_id"] / r["visit_id"] / f"{name}.png")
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
    from vitiseg.layout import discover

    generate_cohort(tmp_path / "v", "small", seed=0, size=96, background="procedural", progress=False)
    lay = discover(tmp_path / "v", load_regions())
    assert len(lay.photos) == 42 and not any(p.error for p in lay.photos)
    assert {p.region for p in lay.photos} == set(REGIONS)
    assert all(v == ["baseline", "week12"] for v in lay.visit_order.values())
    assert {"vns", "dlqi"} <= set(lay.pro_columns)


# ---------------------------------------------------------------- real shared data (skipped when absent)

needs_skin = pytest.mark.skipif(not (SHARED / "skin" / "fasseg_face_skin").is_dir(), reason="../shared/data absent")


@needs_skin
def test_real_backgrounds_splits_disjoint_and_dataset_runs(tmp_path):
    refs = bgm.list_backgrounds(SHARED / "skin")
    assert len({(r.set, r.bg_id) for r in refs}) == len(refs)
    for s in bgm.DEFAULT_SETS:
        assert {r.split for r in refs if r.set == s} == {"train", "val", "test"}, s
    out = tmp_path / "ds"
    assert vitiseg_main(["synth", "dataset", "--skin-root", str(SHARED / "skin"), "--out", str(out), "--n", "6",
                         "--seed", "0", "--split", "test"]) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert len(rows) == 6 and all(r["split"] == "test" for r in rows)
    for r in rows:
        cls = read_mask(out / "masks" / f"{r['id']}.png")
        assert cls.shape == (384, 384) and int(r["depigmented_px"]) == int((cls == 2).sum())


@pytest.mark.slow
@needs_skin
def test_ruxolitinib_cohort_rendered_on_real_skin_hits_figures(tmp_path):
    """Full 50-patient render (~3-4 min): the truth table computed from the masks hits the published figures."""
    s = generate_cohort(tmp_path / "v", "ruxolitinib_wk12", seed=0, skin_root=SHARED / "skin", progress=False)
    st, tg = s["achieved"], PRESETS["ruxolitinib_wk12"].targets
    for k in ("f_vasi_baseline_median", "f_vasi_final_median", "t_vasi_baseline_median", "t_vasi_final_median"):
        assert st[k] == pytest.approx(getattr(tg, k), rel=0.005), k
    assert st["f_vasi75_rate"] == 0.40 and st["f_vasi90_rate"] == 0.10 and st["t_vasi50_rate"] == 0.42


def test_tone_shift_darkens_skin_keeps_texture_and_background():
    from vitiseg.synth.appearance import skin_ita
    from skimage.color import rgb2lab

    from scipy import ndimage

    rng = np.random.default_rng(0)  # light skin disc (ITA ~ 50 deg) with texture on a grey-blue background
    yy, xx = np.mgrid[0:128, 0:128]
    skin = (yy - 64) ** 2 + (xx - 64) ** 2 < 40 ** 2
    rgb = np.empty((128, 128, 3), np.float64)
    rgb[:] = (90, 100, 120)
    rgb[skin] = (225, 190, 170)
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    before = skin_ita(rgb, skin)
    assert before > 30
    out, info = bgm.shift_skin_tone(rgb, skin, np.random.default_rng(5), ita_range=(-30.0, -20.0))
    assert info is not None and info["from_ita"] == pytest.approx(before, abs=0.01)
    assert info["to_ita"] < before
    assert skin_ita(out, skin) == pytest.approx(info["to_ita"], abs=4.0)  # median skin colour lands on the target
    far = ~(ndimage.binary_dilation(skin, iterations=6))
    assert far.any() and (out[far] == rgb[far]).all()  # non-skin pixels away from the border are untouched
    L0 = rgb2lab(rgb / 255.0)[..., 0][skin]
    L1 = rgb2lab(out / 255.0)[..., 0][skin]
    ratio = np.median(L1) / np.median(L0)
    assert np.std(L1) == pytest.approx(np.std(L0) * ratio, rel=0.15)  # texture contrast scaled, not flattened
    # skin already darker than any target is left alone
    dark = (rgb.astype(float) * 0.25).astype(np.uint8)
    same, none = bgm.shift_skin_tone(dark, skin, np.random.default_rng(5), ita_range=(40.0, 41.0))
    assert none is None and (same == dark).all()


def test_dataset_tone_shift_option(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    plain, shifted = tmp_path / "plain", tmp_path / "shifted"
    assert _dataset(root, plain, 10) == 0
    assert "tone_shift" not in json.loads((plain / "dataset.json").read_text())
    assert _dataset(root, shifted, 10, "--tone-shift", "1.0") == 0
    assert json.loads((shifted / "dataset.json").read_text())["tone_shift"] == 1.0
    ita = {d: [float(r["ita_deg"]) for r in csv.DictReader((d / "index.csv").open()) if r["ita_deg"]]
           for d in (plain, shifted)}
    assert np.mean(ita[shifted]) < np.mean(ita[plain]) - 10
    truths = [json.loads(p.read_text()) for p in sorted((shifted / "truth").iterdir())]
    assert any("tone_shift" in t for t in truths)
    # a folder is never grown with other tone settings, in either direction
    assert _dataset(root, plain, 12, "--tone-shift", "0.5") == 2
    assert _dataset(root, shifted, 12) == 2
    assert _dataset(root, shifted, 12, "--tone-shift", "1.0") == 0
