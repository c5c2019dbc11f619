"""scripts/evaluate_model_card.py: the card's numbers measured by ``vitiseg evaluate`` and written into the card."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vitiseg.io.images import read_mask, write_png
from vitiseg.training.data import write_procedural_dataset

from helpers import load_script

emc = load_script("scripts/evaluate_model_card.py")


def test_model_card_script_on_fixtures(tmp_path):
    """The script end to end with the classical baseline on procedural stand-ins of every data set."""
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
    argv = ["--model", "classical", "--run", str(run.parent), "--synth", str(synth), "--real", str(real),
            "--skin-root", str(skin_root), "--out", str(tmp_path / "out"), "--card", str(card), "--quiet"]
    assert emc.main(argv) == 0
    res = json.loads((tmp_path / "out" / "metrics.json").read_text())["classical"]
    assert res["synth_test"]["n_images"] == 2 and res["real_val"]["n_images"] == 3
    assert res["skin_test_all"]["n_images"] == 8
    text = card.read_text()
    assert "old" not in text and "Depigmented Dice, synthetic test (pooled, n=2)" in text
    groups = res["synth_test"]["groups"]["set"]
    assert sum(g["n_images"] for g in groups.values()) == 2 and "kind" not in res["synth_test"]["groups"]
    for lab, g in groups.items():
        assert f"background photo set {lab} (n={g['n_images']})" in text
    assert emc.main(argv + ["--reuse"]) == 0  # cached results of the same model are reused
    again = json.loads((tmp_path / "out" / "metrics.json").read_text())["classical"]
    for lab, g in again["synth_test"]["groups"]["set"].items():  # from the cached per_image.csv (6 decimals)
        assert g == pytest.approx(groups[lab], abs=1e-6)


def test_model_card_training_rows_are_merged():
    head = "| Run | Epochs | Steps (batch) | Wall clock (min) | Best epoch (val score) | Device |\n|---|---|---|---|---|---|\n"
    old = head + "| a | 1 | 10 (8) | 1.0 | 1 (0.1) | cpu |\n| b | 2 | 20 (8) | 2.0 | 2 (0.2) | cpu |\n"
    new = head + "| b | 3 | 30 (8) | 3.0 | 3 (0.3) | cuda |\n| c | 4 | 40 (8) | 4.0 | 4 (0.4) | cpu |\n"
    assert emc.merge_training_rows(old, new) == head + (
        "| a | 1 | 10 (8) | 1.0 | 1 (0.1) | cpu |\n| b | 3 | 30 (8) | 3.0 | 3 (0.3) | cuda |\n"
        "| c | 4 | 40 (8) | 4.0 | 4 (0.4) | cpu |\n")
    assert emc.merge_training_rows("", new) == new


def test_model_card_reuses_only_results_of_the_same_inference():
    """Cached rows are reused only for the same weights AND inference settings (a colour refinement added to the same
    weights must be re-measured)."""
    old = {"sha256": "ab", "input_long_side": 384, "depigmented_threshold": 0.5, "path": "/x"}  # older summary
    assert emc.same_model(old, {**old, "refinement": None, "path": "/y"})
    assert not emc.same_model(old, {**old, "refinement": {"method": "colour_gaussian"}})
    assert not emc.same_model(old, {**old, "sha256": "cd"})
    assert not emc.same_model(old, {**old, "depigmented_threshold": 0.4})
    onnx = {**old, "backend": "onnx"}  # the same weights on another runtime: measured again
    assert emc.same_model(onnx, {**onnx, "path": "/y"}) and not emc.same_model(onnx, {**onnx, "backend": "torch"})
