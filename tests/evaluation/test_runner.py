"""``vitiseg evaluate``: items and ids, per-image rows through the pipeline's segmentation path, the command end to
end with exact numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitiseg.cli import main as cli_main
from vitiseg.evaluation.runner import evaluate_items, list_items, read_ids, run_evaluation, summarise
from vitiseg.io.images import write_jpeg, write_png
from vitiseg.training.data import write_procedural_dataset

from helpers import PresetSegmenter, class_mask


def write_fixture(root: Path, masks: list[np.ndarray]) -> Path:
    """``root/images/im<i>.jpg`` (flat grey) with ``root/masks/im<i>.png``."""
    for i, m in enumerate(masks):
        write_jpeg(root / "images" / f"im{i}.jpg", np.full(m.shape + (3,), 150, np.uint8))
        write_png(root / "masks" / f"im{i}.png", m)
    return root


def test_read_ids(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x\ny\n\n")
    (tmp_path / "b.csv").write_text("id,split\nx,train\ny,test\n")
    (tmp_path / "c.json").write_text(json.dumps({"val": ["z"], "train": ["x"]}))
    assert read_ids(tmp_path / "a.txt") == ["x", "y"]
    assert read_ids(tmp_path / "b.csv", "test") == ["y"] and read_ids(tmp_path / "b.csv") == ["x", "y"]
    assert read_ids(tmp_path / "c.json", "val") == ["z"]
    with pytest.raises(ValueError, match="--split is required"):
        read_ids(tmp_path / "c.json")
    with pytest.raises(ValueError, match="no split 'test'"):
        read_ids(tmp_path / "c.json", "test")


def test_list_items_pairs_images_with_masks(tmp_path: Path) -> None:
    m = np.zeros((4, 4), np.uint8)
    write_fixture(tmp_path, [m, m, m])
    (tmp_path / "masks" / "im1.png").unlink()  # no mask: skipped
    (tmp_path / "images" / "notes.txt").write_text("x")
    assert [it.id for it in list_items(tmp_path / "images", tmp_path / "masks")] == ["im0", "im2"]
    assert [it.id for it in list_items(tmp_path / "images", tmp_path / "masks", ids=["im2", "zz"])] == ["im2"]
    assert len(list_items(tmp_path / "images", tmp_path / "masks", max_images=1)) == 1
    with pytest.raises(FileNotFoundError, match="mask folder"):
        list_items(tmp_path / "images", tmp_path / "nothing")


def test_evaluate_items_exact(tmp_path: Path) -> None:
    gt0 = class_mask(10, 10, np.s_[0:10, 0:5], np.s_[0:2, 0:5])
    gt1 = class_mask(8, 12, np.s_[0:8, 0:12], np.s_[0:0, 0:0])  # no lesion
    write_fixture(tmp_path, [gt0, gt1])
    p0 = class_mask(10, 10, np.s_[0:10, 0:6], np.s_[0:3, 0:4])
    items = list_items(tmp_path / "images", tmp_path / "masks")
    rows = evaluate_items(PresetSegmenter([p0, gt1.copy()]), items, "classes", progress=False)
    assert [r["id"] for r in rows] == ["im0", "im1"]
    assert (rows[0]["width"], rows[0]["height"]) == (10, 10)
    assert rows[1]["depig_dice"] == 1.0 and rows[1]["fraction_true"] == 0.0
    s = summarise(rows, "classes")
    assert s["depigmented"]["pooled_dice"] == pytest.approx(16 / 22)
    assert s["depigmented"]["mean_dice"] == pytest.approx((16 / 22 + 1.0) / 2)
    assert s["skin"]["pooled_dice"] == pytest.approx(2 * 146 / (156 + 146))
    assert s["fraction"]["mae"] == pytest.approx(0.0)
    write_png(tmp_path / "masks" / "im0.png", np.full((10, 10), 255, np.uint8))
    with pytest.raises(ValueError, match="values > 2 in a class mask"):
        evaluate_items(PresetSegmenter([p0]), items[:1], "classes", progress=False)
    write_png(tmp_path / "masks" / "im0.png", np.zeros((9, 10), np.uint8))
    with pytest.raises(ValueError, match=r"is \(9, 10\), image"):
        evaluate_items(PresetSegmenter([p0]), items[:1], "classes", progress=False)


def test_summary_and_per_image_csv_are_written(tmp_path: Path) -> None:
    gt = class_mask(10, 10, np.s_[0:10, 0:5], np.s_[0:2, 0:5])
    d = write_fixture(tmp_path / "d", [gt])
    pred = class_mask(10, 10, np.s_[0:10, 0:6], np.s_[0:3, 0:4])
    s = run_evaluation("x", d / "images", d / "masks", "classes", tmp_path / "out", progress=False,
                       segmenter=PresetSegmenter([pred]), groups={"set": {"im0": "a"}})
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert "rows" not in saved and saved["metrics"] == json.loads(json.dumps(s["metrics"]))
    assert saved["model"] == {"name": "preset", "kind": "test"} and saved["normalise"]["method"] == "none"
    assert saved["work_long_side"] == 1024 and saved["metrics"]["groups"]["set"]["a"]["n_images"] == 1
    per = pd.read_csv(tmp_path / "out" / "per_image.csv")
    assert per.loc[0, ["id", "depig_tp", "depig_fp", "depig_fn"]].tolist() == ["im0", 8, 4, 2]
    assert per.loc[0, "depig_dice"] == pytest.approx(16 / 22, abs=1e-6)


def test_command_end_to_end_with_the_classical_baseline(tmp_path: Path) -> None:
    data = write_procedural_dataset(tmp_path / "d", n=4, size=64, seed=1)
    out = tmp_path / "out"
    args = ["evaluate", "--model", "classical", "--images", str(data / "images"), "--masks", str(data / "masks"),
            "--ids", str(data / "index.csv"), "--split", "train", "--device", "cpu", "--out", str(out),
            "--worst", "2", "--groups", str(data / "index.csv"), "--group-by", "split"]
    assert cli_main(args) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["model"]["kind"] == "classical" and s["metrics"]["n_images"] == 3
    assert s["normalise"] == {"method": "shades_of_grey", "minkowski_p": 6.0}  # the classical default
    g = s["metrics"]["groups"]["split"]
    assert list(g) == ["train"] and g["train"]["n_images"] == 3
    assert g["train"]["depig_pooled_dice"] == pytest.approx(s["metrics"]["depigmented"]["pooled_dice"])
    assert s["conventions"]["empty_gt_and_empty_pred"] == "dice = iou = 1"
    per = pd.read_csv(out / "per_image.csv")
    assert per["id"].tolist() == ["proc_0000", "proc_0001", "proc_0002"]
    tp, fp, fn = per["depig_tp"].sum(), per["depig_fp"].sum(), per["depig_fn"].sum()
    assert s["metrics"]["depigmented"]["pooled_dice"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert s["metrics"]["depigmented"]["pooled_dice"] > 0.6  # measured 0.72: the baseline finds most patches
    assert [w["id"] for w in s["worst_images"]] == per.assign(w=per["depig_fp"] + per["depig_fn"]).sort_values(
        "w", ascending=False, kind="stable")["id"].tolist()[:2]
    with pytest.raises(ValueError, match="no column"):
        cli_main(args[:-1] + ["set"])
