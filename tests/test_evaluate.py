"""Evaluation metrics with exact expected numbers, the no-lesion convention, and the CLI end to end."""

from __future__ import annotations

import argparse
import json
import math
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest

from vitiseg import evaluate as ev
from vitiseg.images import read_rgb, write_jpeg, write_png


def test_dice_iou_exact():
    pred = np.zeros((4, 4), bool)
    gt = np.zeros((4, 4), bool)
    pred[0, :4] = True  # 4 px
    gt[0, 1:4] = True
    gt[1, :3] = True  # 6 px, overlap 3
    tp, fp, fn = ev.overlap_counts(pred, gt)
    assert (tp, fp, fn) == (3, 1, 3)
    d, i = ev.dice_iou(tp, fp, fn)
    assert d == pytest.approx(6 / 10) and i == pytest.approx(3 / 7)


def test_no_lesion_convention():
    assert ev.dice_iou(0, 0, 0) == (1.0, 1.0)  # nothing to find, nothing found
    assert ev.dice_iou(0, 5, 0) == (0.0, 0.0)  # false positives on a lesion-free image
    assert ev.dice_iou(0, 0, 5) == (0.0, 0.0)


def _classes(h, w, skin, depig):
    m = np.zeros((h, w), np.uint8)
    m[skin] = 1
    m[depig] = 2
    return m


def test_image_metrics_classes_exact():
    gt = _classes(10, 10, (slice(0, 10), slice(0, 5)), (slice(0, 2), slice(0, 5)))  # skin 50, depig 10
    pred = _classes(10, 10, (slice(0, 10), slice(0, 6)), (slice(0, 3), slice(0, 4)))  # skin 60, depig 12
    r = ev.image_metrics(pred, gt, "classes")
    # depig: tp = 2*4 = 8, fp = 12-8 = 4, fn = 10-8 = 2
    assert (r["depig_tp"], r["depig_fp"], r["depig_fn"]) == (8, 4, 2)
    assert r["depig_dice"] == pytest.approx(16 / 22) and r["depig_iou"] == pytest.approx(8 / 14)
    # skin: tp 50, fp 10, fn 0
    assert r["skin_dice"] == pytest.approx(100 / 110) and r["skin_iou"] == pytest.approx(50 / 60)
    assert r["fraction_true"] == pytest.approx(0.2) and r["fraction_pred"] == pytest.approx(0.2)
    assert r["fraction_abs_err"] == pytest.approx(0.0)


def test_error_breakdown_exact():
    # 20x20 skin; true lesions A = rows/cols 2..8 and B = rows/cols 12..18 (7x7 = 49 px each)
    gt = np.ones((20, 20), np.uint8)
    gt[2:9, 2:9] = 2
    gt[12:19, 12:19] = 2
    pred = np.ones((20, 20), np.uint8)
    pred[3:8, 3:8] = 2  # A drawn 1 px tight: 25 TP
    pred[5, 8:10] = 2  # reaches A's border (1 TP) and 1 px beyond it (FP at 1 px: edge)
    pred[0:2, 17:19] = 2  # a 2x2 false alarm far from both lesions
    pred[14:17, 14:17] = 0  # B missed: its 3x3 centre called background, the rest skin
    r = ev.image_metrics(pred, gt, "classes")
    assert (r["depig_tp"], r["depig_fp"], r["depig_fn"]) == (26, 5, 72)
    # A: 23 FN, all on its outer ring (1 px from the border); B: rings at 1 and 2 px (24 + 16) are edge, the rings at
    # 3 px (8) and the centre (1) are core
    assert (r["depig_fn_edge"], r["depig_fn_core"]) == (23 + 40, 9)
    assert (r["depig_fp_edge"], r["depig_fp_far"]) == (1, 4)
    assert (r["depig_fn_as_skin"], r["depig_fn_as_bg"]) == (63, 9)
    assert (r["depig_lesions_true"], r["depig_lesions_missed"]) == (2, 1)
    assert (r["depig_lesions_pred"], r["depig_lesions_false"]) == (2, 1)
    # a lesion-free image: every false positive is "far", no lesion to miss
    r0 = ev.image_metrics(pred, np.ones((20, 20), np.uint8), "classes")
    assert (r0["depig_fp_edge"], r0["depig_fp_far"], r0["depig_lesions_true"]) == (0, 31, 0)
    assert r0["depig_lesions_false"] == 2
    s = ev.summarise([r, r0], "classes")["depigmented"]["errors"]
    assert s["counts"]["fn_core"] == 9 and s["fn_core_share"] == pytest.approx(9 / 72)
    assert s["fp_far_share"] == pytest.approx(35 / 36) and s["fn_as_bg_share"] == pytest.approx(9 / 72)
    assert s["lesions_missed_share"] == pytest.approx(1 / 2) and s["lesions_false_share"] == pytest.approx(3 / 4)
    # coarse polygon masks: the same breakdown without the skin/background split of the misses
    rl = ev.image_metrics(pred, np.where(gt == 2, 255, 0).astype(np.uint8), "lesion")
    assert rl["depig_fn_core"] == 9 and "depig_fn_as_bg" not in rl
    assert "errors" not in ev.summarise([ev.image_metrics(pred, gt * 0, "skin")], "skin").get("depigmented", {})


def test_image_metrics_lesion_and_skin_kinds():
    lesion = np.zeros((6, 6), np.uint8)
    lesion[:2, :3] = 255
    pred = np.ones((6, 6), np.uint8)
    pred[:2, :2] = 2
    r = ev.image_metrics(pred, lesion, "lesion")
    assert (r["depig_tp"], r["depig_fp"], r["depig_fn"]) == (4, 0, 2)
    assert "skin_dice" not in r and "fraction_true" not in r
    skin = np.zeros((6, 6), np.uint8)
    skin[:, :3] = 255  # 18 skin px, no lesion
    r = ev.image_metrics(pred, skin, "skin")
    assert r["fraction_true"] == 0.0 and r["fraction_pred"] == pytest.approx(4 / 36)
    assert r["skin_dice"] == pytest.approx(36 / 54)
    assert r["depig_dice"] == 0.0 and not r["gt_has_lesion"]


def test_fraction_undefined_without_skin():
    assert math.isnan(ev.fraction(np.zeros((3, 3), np.uint8)))
    r = ev.image_metrics(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), "classes")
    assert math.isnan(r["fraction_abs_err"]) and r["depig_dice"] == 1.0 and r["skin_dice"] == 1.0


def test_summary_pooled_vs_mean_and_empty_images():
    rows = [
        {"depig_tp": 8, "depig_fp": 4, "depig_fn": 2, "depig_dice": 16 / 22, "depig_iou": 8 / 14, "gt_has_lesion": True},
        {"depig_tp": 0, "depig_fp": 0, "depig_fn": 0, "depig_dice": 1.0, "depig_iou": 1.0, "gt_has_lesion": False},
        {"depig_tp": 0, "depig_fp": 3, "depig_fn": 0, "depig_dice": 0.0, "depig_iou": 0.0, "gt_has_lesion": False},
    ]
    s = ev.summarise(rows, "lesion")["depigmented"]
    assert s["pooled_dice"] == pytest.approx(16 / 25) and s["pooled_iou"] == pytest.approx(8 / 17)
    assert s["mean_dice"] == pytest.approx((16 / 22 + 1.0 + 0.0) / 3)
    assert s["mean_dice_lesion_images"] == pytest.approx(16 / 22)
    assert s["n_images_with_lesion"] == 1 and s["n_empty_gt_with_fp"] == 1


def test_fraction_calibration():
    t = [0.0, 0.1, 0.2, 0.5]
    c = ev.fraction_calibration(t, [2 * x + 0.01 for x in t])
    assert c["slope"] == pytest.approx(2.0) and c["intercept"] == pytest.approx(0.01)
    assert c["mean_signed_error"] == pytest.approx(np.mean([x + 0.01 for x in t]))
    assert sum(b["n"] for b in c["bins"]) == 4
    c = ev.fraction_calibration([0.2, float("nan")], [0.3, 0.1])
    assert c["n_images"] == 1 and c["mae"] == pytest.approx(0.1) and c["slope"] is None


def test_ita_and_tertiles():
    light = np.full((20, 20, 3), (230, 200, 180), np.uint8)
    dark = np.full((20, 20, 3), (90, 60, 45), np.uint8)
    ref = np.ones((20, 20), bool)
    assert ev.ita_degrees(light, ref) > 30 > ev.ita_degrees(dark, ref)
    assert math.isnan(ev.ita_degrees(light, np.zeros((20, 20), bool)))
    rows = []
    for i, ita in enumerate([-40, -30, -20, 10, 20, 30, 50, 55, 60]):
        tp = 10 if i < 3 else 20
        rows.append({"ita": float(ita), "depig_tp": tp, "depig_fp": 0, "depig_fn": 20 - tp,
                     "depig_dice": 2 * tp / (20 + tp), "depig_iou": tp / 20, "gt_has_lesion": True})
    t = ev.ita_tertiles(rows)
    assert [t["tertiles"][k]["n"] for k in ("T1", "T2", "T3")] == [3, 3, 3]
    assert t["tertiles"]["T1"]["depig_pooled_dice"] == pytest.approx(20 / 30)
    assert t["gap_depig_pooled_dice"] == pytest.approx(1.0 - 20 / 30)
    assert ev.ita_tertiles(rows[:2]) is None


def test_group_metrics_exact(tmp_path):
    def row(id_, tp, fp, fn, ft, fpred):
        return {"id": id_, "depig_tp": tp, "depig_fp": fp, "depig_fn": fn, "depig_dice": 2 * tp / max(2 * tp + fp + fn, 1),
                "depig_iou": tp / max(tp + fp + fn, 1), "gt_has_lesion": tp + fn > 0, "fraction_true": ft,
                "fraction_pred": fpred, "fraction_abs_err": abs(fpred - ft)}

    rows = [row("a", 8, 2, 10, 0.4, 0.2), row("b", 2, 0, 0, 0.1, 0.1), row("c", 0, 6, 30, 0.3, 0.1), row("d", 1, 0, 0, 0.5, 0.6)]
    labels = {"a": "faces", "b": "faces", "c": "scenes"}
    g = ev.group_metrics(rows, labels, "classes")
    assert list(g) == ["(none)", "faces", "scenes"]
    assert g["faces"]["n_images"] == 2
    assert g["faces"]["depig_pooled_dice"] == pytest.approx(20 / 32)  # 2*10 / (20 + 2 + 10)
    assert g["faces"]["fn_share"] == pytest.approx(10 / 40) and g["faces"]["fp_share"] == pytest.approx(2 / 8)
    assert g["scenes"]["depig_pooled_dice"] == 0.0 and g["scenes"]["fn_share"] == pytest.approx(30 / 40)
    assert g["faces"]["fraction_mae"] == pytest.approx(0.1) and g["faces"]["fraction_bias"] == pytest.approx(-0.1)
    assert g["(none)"]["fraction_bias"] == pytest.approx(0.1) and g["(none)"]["fp_share"] == 0.0
    # skin masks: no depigmented Dice per group, skin Dice when present
    sk = ev.group_metrics([{**rows[1], "skin_tp": 3, "skin_fp": 1, "skin_fn": 0, "skin_dice": 6 / 7, "skin_iou": 0.75}],
                          {"b": "x"}, "skin")
    assert "depig_pooled_dice" not in sk["x"] and sk["x"]["skin_pooled_dice"] == pytest.approx(6 / 7)

    idx = tmp_path / "index.csv"
    idx.write_text("id,split,set\na,test,faces\nb,test,faces\n")
    assert ev.read_groups(idx, ["set"]) == {"set": {"a": "faces", "b": "faces"}}
    with pytest.raises(ValueError, match=r"no column \['kind'\]"):
        ev.read_groups(idx, ["set", "kind"])
    (tmp_path / "noid.csv").write_text("name,set\na,faces\n")
    with pytest.raises(ValueError, match="no 'id' column"):
        ev.read_groups(tmp_path / "noid.csv", ["set"])


def test_lesion_ring():
    les = np.zeros((50, 50), bool)
    les[20:30, 20:30] = True
    ring = ev.lesion_ring(les, 3, 10)
    assert not (ring & les).any() and ring.any()
    assert not ring[20:30, 20:30].any() and not ring[0, 0]


def test_read_ids(tmp_path):
    (tmp_path / "a.txt").write_text("x\ny\n\n")
    (tmp_path / "b.csv").write_text("id,split\nx,train\ny,test\n")
    (tmp_path / "c.json").write_text(json.dumps({"val": ["z"], "train": ["x"]}))
    assert ev.read_ids(tmp_path / "a.txt") == ["x", "y"]
    assert ev.read_ids(tmp_path / "b.csv", "test") == ["y"]
    assert ev.read_ids(tmp_path / "c.json", "val") == ["z"]
    with pytest.raises(ValueError):
        ev.read_ids(tmp_path / "c.json")


class _Fixed:
    """Test double with the Segmenter contract: returns pre-set masks by image size order."""

    identity = {"name": "fixed", "kind": "test"}

    def __init__(self, preds):
        self.preds = list(preds)

    def predict(self, rgb):
        p = self.preds.pop(0)
        assert p.shape == rgb.shape[:2]
        return p


def _write_fixture(root, masks):
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i, m in enumerate(masks):
        write_jpeg(root / "images" / f"im{i}.jpg", np.full(m.shape + (3,), 150, np.uint8))
        write_png(root / "masks" / f"im{i}.png", m)


def test_evaluate_items_exact(tmp_path):
    gt0 = _classes(10, 10, (slice(0, 10), slice(0, 5)), (slice(0, 2), slice(0, 5)))
    gt1 = _classes(8, 12, (slice(0, 8), slice(0, 12)), (slice(0, 0), slice(0, 0)))  # no lesion
    _write_fixture(tmp_path, [gt0, gt1])
    p0 = _classes(10, 10, (slice(0, 10), slice(0, 6)), (slice(0, 3), slice(0, 4)))
    p1 = gt1.copy()
    items = ev.list_items(tmp_path / "images", tmp_path / "masks")
    rows = ev.evaluate_items(_Fixed([p0, p1]), items, "classes", progress=False)
    assert [r["id"] for r in rows] == ["im0", "im1"]
    assert rows[1]["depig_dice"] == 1.0 and rows[1]["fraction_true"] == 0.0
    s = ev.summarise(rows, "classes")
    assert s["depigmented"]["pooled_dice"] == pytest.approx(16 / 22)
    assert s["depigmented"]["mean_dice"] == pytest.approx((16 / 22 + 1.0) / 2)
    assert s["skin"]["pooled_dice"] == pytest.approx(2 * 146 / (156 + 146))
    assert s["fraction"]["mae"] == pytest.approx(0.0)


class _ByShape:
    """Test double: returns the preset prediction for the image's shape (so an image can be predicted twice)."""

    identity = {"name": "by-shape", "kind": "test"}

    def __init__(self, preds):
        self.preds = {p.shape: p for p in preds}

    def predict(self, rgb):
        return self.preds[rgb.shape[:2]]


def test_error_overlay_colours_exact():
    rgb = np.full((1, 3, 3), 100, np.uint8)
    gt = np.array([[2, 1, 2]], np.uint8)
    pred = np.array([[1, 2, 2]], np.uint8)  # FN, FP, TP
    o = ev.error_overlay(rgb, pred, gt, "classes")
    # 0.35 * photo + 0.65 * colour: FN red (230, 30, 30), FP blue (40, 120, 255), TP green (40, 200, 60)
    assert o[0, 0].tolist() == [184, 54, 54] and o[0, 1].tolist() == [61, 113, 200] and o[0, 2].tolist() == [61, 165, 74]
    o2 = ev.error_overlay(rgb, np.array([[0, 0, 0]], np.uint8), np.zeros((1, 3), np.uint8), "classes")
    assert o2[0, 0].tolist() == [45, 45, 45]  # no error, no lesion: the photo dimmed to 45 %


def test_worst_cases_sheet(tmp_path):
    gt0 = _classes(10, 10, (slice(0, 10), slice(0, 5)), (slice(0, 2), slice(0, 5)))
    gt1 = _classes(8, 12, (slice(0, 8), slice(0, 12)), (slice(0, 0), slice(0, 0)))  # no lesion, predicted right
    gt2 = _classes(12, 6, (slice(0, 12), slice(0, 6)), (slice(0, 2), slice(0, 6)))  # 12 lesion px, all missed
    _write_fixture(tmp_path / "d", [gt0, gt1, gt2])
    p0 = _classes(10, 10, (slice(0, 10), slice(0, 6)), (slice(0, 3), slice(0, 4)))  # 4 FP + 2 FN
    p2 = _classes(12, 6, (slice(0, 12), slice(0, 6)), (slice(0, 0), slice(0, 0)))
    seg = _ByShape([p0, gt1.copy(), p2])
    d, out = tmp_path / "d", tmp_path / "out"
    s = ev.run_evaluation("x", d / "images", d / "masks", "classes", out, segmenter=seg, progress=False, worst=5)
    assert s["worst_images"] == [{"id": "im2", "wrong_px": 12}, {"id": "im0", "wrong_px": 6}]
    sheet = read_rgb(out / "worst.jpg")
    # rows of 22 px caption + 256 px tiles; im2 (12x6) tiles are 128 px wide, im0 (10x10) 256: sheet 4 x 256 wide
    assert sheet.shape == (2 * (22 + 256), 4 * 256, 3)
    r, g, b = sheet[22 + 10, 3 * 128 + 64].astype(int)  # im2's error tile, inside the missed lesion: red
    assert r > 170 and g < 110 and b < 110
    assert sheet[22 + 10, 4 * 128 + 10].tolist() == [0, 0, 0]  # im2's row is padded to the sheet width
    ev.run_evaluation("x", d / "images", d / "masks", "classes", out, segmenter=seg, progress=False, worst=0)
    assert not (out / "worst.jpg").exists() and "worst_images" not in json.loads((out / "summary.json").read_text())


def test_cli_classical_end_to_end(tmp_path):
    pytest.importorskip("vitiseg.segment")
    from vitiseg.datasets import write_procedural_dataset

    data = write_procedural_dataset(tmp_path / "d", n=4, size=64, seed=1)
    out = tmp_path / "out"
    args = argparse.Namespace(
        model="classical", images=str(data / "images"), masks=str(data / "masks"), mask_kind="classes",
        ids=str(data / "index.csv"), split="train", max_images=None, normalise=None, device="cpu", out=str(out),
        worst=2, groups=str(data / "index.csv"), group_by="split",
    )
    assert ev.main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["model"]["kind"] == "classical" and s["metrics"]["n_images"] == 3
    g = s["metrics"]["groups"]["split"]
    assert list(g) == ["train"] and g["train"]["n_images"] == 3
    assert g["train"]["depig_pooled_dice"] == pytest.approx(s["metrics"]["depigmented"]["pooled_dice"])
    with pytest.raises(ValueError, match="no column"):
        ev.main(argparse.Namespace(**{**vars(args), "group_by": "set"}))
    assert 0.0 <= s["metrics"]["depigmented"]["pooled_dice"] <= 1.0
    assert s["conventions"]["empty_gt_and_empty_pred"] == "dice = iou = 1"
    lines = (out / "per_image.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("id,")


def test_model_card_script_on_fixtures(tmp_path):
    """scripts/evaluate_model_card.py end to end with the classical baseline on procedural stand-ins."""
    import importlib.util
    from pathlib import Path

    from vitiseg.datasets import write_procedural_dataset
    from vitiseg.images import read_mask

    repo = Path(__file__).resolve().parents[1]
    synth = write_procedural_dataset(tmp_path / "synth", n=8, size=64, seed=2)
    idx = (synth / "index.csv").read_text().replace(",val", ",test").splitlines()
    idx = [idx[0] + ",set"] + [f"{r},{'faces' if i % 2 else 'scenes'}" for i, r in enumerate(idx[1:])]
    (synth / "index.csv").write_text("\n".join(idx) + "\n")
    ids = [p.stem for p in sorted((synth / "images").iterdir())]
    run = tmp_path / "run" / "splits"
    run.mkdir(parents=True)
    (run / "real_polygons_val.txt").write_text("\n".join(ids[:3]) + "\n")
    real = tmp_path / "real"
    skin_root = tmp_path / "skin"
    sets = {"abdominal": "abdominal_skin", "fasseg": "fasseg_face_skin", "hgr": "hgr_hands_subset",
            "pratheepan": "pratheepan_skin"}
    for d in [real] + [skin_root / v for v in sets.values()]:
        (d / "images").mkdir(parents=True)
        (d / "masks").mkdir()
    for i in ids:
        img = (synth / "images" / f"{i}.jpg").read_bytes()
        m = read_mask(synth / "masks" / f"{i}.png")
        (real / "images" / f"{i}.jpg").write_bytes(img)
        write_png(real / "masks" / f"{i}.png", np.where(m == 2, 255, 0).astype(np.uint8))
        for v in sets.values():
            (skin_root / v / "images" / f"{i}.jpg").write_bytes(img)
            write_png(skin_root / v / "masks" / f"{i}.png", np.where(m > 0, 255, 0).astype(np.uint8))
    for k in sets:
        (run / f"skin_{k}_test.txt").write_text("\n".join(ids[:2]) + "\n")
    card = tmp_path / "README.md"
    card.write_text("x\n<!-- metrics:start -->\nold\n<!-- metrics:end -->\ny\n")
    spec = importlib.util.spec_from_file_location("emc", repo / "scripts" / "evaluate_model_card.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = ["--model", "classical", "--run", str(run.parent), "--synth", str(synth), "--real", str(real),
            "--skin-root", str(skin_root), "--out", str(tmp_path / "out"), "--card", str(card), "--quiet"]
    assert mod.main(argv) == 0
    res = json.loads((tmp_path / "out" / "metrics.json").read_text())["classical"]
    assert res["synth_test"]["n_images"] == 2 and res["real_val"]["n_images"] == 3
    assert res["skin_test_all"]["n_images"] == 8
    text = card.read_text()
    assert "old" not in text and "Depigmented Dice, synthetic test (pooled, n=2)" in text
    groups = res["synth_test"]["groups"]["set"]
    assert sum(g["n_images"] for g in groups.values()) == 2 and "kind" not in res["synth_test"]["groups"]
    for lab, g in groups.items():
        assert f"background photo set {lab} (n={g['n_images']})" in text
    assert mod.main(argv + ["--reuse"]) == 0  # cached results of the same model are reused
    again = json.loads((tmp_path / "out" / "metrics.json").read_text())["classical"]
    for lab, g in again["synth_test"]["groups"]["set"].items():  # from the cached per_image.csv (6 decimals)
        assert g == pytest.approx(groups[lab], abs=1e-6)


def test_model_card_training_rows_are_merged():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "emc", Path(__file__).resolve().parents[1] / "scripts" / "evaluate_model_card.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    head = "| Run | Epochs | Steps (batch) | Wall clock (min) | Best epoch (val score) | Device |\n|---|---|---|---|---|---|\n"
    old = head + "| a | 1 | 10 (8) | 1.0 | 1 (0.1) | cpu |\n| b | 2 | 20 (8) | 2.0 | 2 (0.2) | cpu |\n"
    new = head + "| b | 3 | 30 (8) | 3.0 | 3 (0.3) | cuda |\n| c | 4 | 40 (8) | 4.0 | 4 (0.4) | cpu |\n"
    assert mod.merge_training_rows(old, new) == head + (
        "| a | 1 | 10 (8) | 1.0 | 1 (0.1) | cpu |\n| b | 3 | 30 (8) | 3.0 | 3 (0.3) | cuda |\n"
        "| c | 4 | 40 (8) | 4.0 | 4 (0.4) | cpu |\n")
    assert mod.merge_training_rows("", new) == new
    card = "x\n<!-- training:start -->\n" + old + "<!-- training:end -->\n"
    assert mod._block(card, "training") == old


def test_model_card_reuses_only_results_of_the_same_inference():
    """Cached rows are reused only for the same weights AND inference settings (a colour refinement added to the same
    weights must be re-measured)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "emc", Path(__file__).resolve().parents[1] / "scripts" / "evaluate_model_card.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    old = {"sha256": "ab", "input_long_side": 384, "depigmented_threshold": 0.5, "path": "/x"}  # older summary
    assert mod.same_model(old, {**old, "refinement": None, "path": "/y"})
    assert not mod.same_model(old, {**old, "refinement": {"method": "colour_gaussian"}})
    assert not mod.same_model(old, {**old, "sha256": "cd"})
    assert not mod.same_model(old, {**old, "depigmented_threshold": 0.4})


def test_inference_variants_script_matches_evaluate(tmp_path):
    """scripts/inference_variants.py: at the artifact's own working size, without flip or filling, its pooled Dice is
    exactly that of ``vitiseg evaluate``."""
    import importlib.util
    from pathlib import Path

    import torch

    from vitiseg.datasets import write_procedural_dataset
    from vitiseg.model import ArchConfig, ModelConfig, UNetSegmenter, build_network, save_artifact

    torch.manual_seed(0)
    arch = ArchConfig(encoder="mobilenet_v2", decoder_channels=(32, 16, 16, 8, 8))
    net = build_network(arch).eval()
    with torch.no_grad():  # bias the depigmented logit so that this untrained net predicts some class 2
        net.segmentation_head[0].bias[2] += 0.3
    mdir = tmp_path / "model"
    save_artifact(mdir, net, ModelConfig(name="tiny", architecture=arch, input_long_side=64))
    data = write_procedural_dataset(tmp_path / "d", n=3, size=64, seed=3)
    spec = importlib.util.spec_from_file_location(
        "iv", Path(__file__).resolve().parents[1] / "scripts" / "inference_variants.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "v.json"
    assert mod.main(["--model", str(mdir), "--data", f"d:classes:{data}", "--scales", "64,96", "--json", str(out),
                     "--quiet"]) == 0
    res = json.loads(out.read_text())["datasets"]["d"]
    assert res["n_images"] == 3 and 0.0 < res["variants"]["s64"]["dice"] < 1.0
    assert set(res["variants"]) == {f"{v}{f}" for v in ("s64", "s64+flip", "s96", "s96+flip", "ms", "ms+flip")
                                    for f in ("", "+fill")}
    ref = ev.run_evaluation(str(mdir), data / "images", data / "masks", "classes", tmp_path / "ev", progress=False,
                            segmenter=UNetSegmenter.load(mdir, device="cpu"))
    assert res["variants"]["s64"]["dice"] == pytest.approx(ref["metrics"]["depigmented"]["pooled_dice"], abs=1e-12)
    assert res["variants"]["s64"]["fraction_mae_pp"] == pytest.approx(100 * ref["metrics"]["fraction"]["mae"])
