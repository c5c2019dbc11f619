"""The worst-cases sheet of an evaluation: exact error colours, ranking, layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vitiseg.evaluation.runner import run_evaluation
from vitiseg.evaluation.worst_cases import error_overlay, truth_rgb, worst_rows
from vitiseg.io.images import read_rgb, write_jpeg, write_png

from helpers import PresetSegmenter, class_mask


def test_error_overlay_colours_exact() -> None:
    rgb = np.full((1, 3, 3), 100, np.uint8)
    gt = np.array([[2, 1, 2]], np.uint8)
    pred = np.array([[1, 2, 2]], np.uint8)  # FN, FP, TP
    o = error_overlay(rgb, pred, gt, "classes")
    # 0.35 * photo + 0.65 * colour: FN red (230, 30, 30), FP blue (40, 120, 255), TP green (40, 200, 60)
    assert o[0, 0].tolist() == [184, 54, 54] and o[0, 1].tolist() == [61, 113, 200] and o[0, 2].tolist() == [61, 165, 74]
    o2 = error_overlay(rgb, np.array([[0, 0, 0]], np.uint8), np.zeros((1, 3), np.uint8), "classes")
    assert o2[0, 0].tolist() == [45, 45, 45]  # no error, no lesion: the photo dimmed to 45 %
    # skin masks: the errors are skin errors
    o3 = error_overlay(rgb, np.array([[0, 1, 2]], np.uint8), np.array([[255, 0, 255]], np.uint8), "skin")
    assert o3[0].tolist() == [[184, 54, 54], [61, 113, 200], [61, 165, 74]]
    assert truth_rgb(np.array([[0, 255]], np.uint8), "lesion").tolist() == [[[0, 0, 0], [255, 255, 255]]]


def test_worst_rows_rank_by_wrong_pixels_and_keep_ties_in_order() -> None:
    rows = [{"id": "a", "depig_fn": 1, "depig_fp": 1}, {"id": "b", "depig_fn": 0, "depig_fp": 0},
            {"id": "c", "depig_fn": 5, "depig_fp": 0}, {"id": "d", "depig_fn": 2, "depig_fp": 0}]
    assert [r["id"] for r in worst_rows(rows, "classes", 5)] == ["c", "a", "d"]
    assert [r["id"] for r in worst_rows(rows, "classes", 1)] == ["c"]


def test_worst_cases_sheet(tmp_path: Path) -> None:
    gt0 = class_mask(10, 10, np.s_[0:10, 0:5], np.s_[0:2, 0:5])
    gt1 = class_mask(8, 12, np.s_[0:8, 0:12], np.s_[0:0, 0:0])  # no lesion, predicted right
    gt2 = class_mask(12, 6, np.s_[0:12, 0:6], np.s_[0:2, 0:6])  # 12 lesion px, all missed
    d, out = tmp_path / "d", tmp_path / "out"
    for i, m in enumerate([gt0, gt1, gt2]):
        write_jpeg(d / "images" / f"im{i}.jpg", np.full(m.shape + (3,), 150, np.uint8))
        write_png(d / "masks" / f"im{i}.png", m)
    p0 = class_mask(10, 10, np.s_[0:10, 0:6], np.s_[0:3, 0:4])  # 4 FP + 2 FN
    p2 = class_mask(12, 6, np.s_[0:12, 0:6], np.s_[0:0, 0:0])
    seg = PresetSegmenter([p0, gt1.copy(), p2])
    s = run_evaluation("x", d / "images", d / "masks", "classes", out, segmenter=seg, progress=False, worst=5)
    assert s["worst_images"] == [{"id": "im2", "wrong_px": 12}, {"id": "im0", "wrong_px": 6}]
    sheet = read_rgb(out / "worst.jpg")
    # rows of 22 px caption + 256 px tiles; im2 (12x6) tiles are 128 px wide, im0 (10x10) 256: sheet 4 x 256 wide
    assert sheet.shape == (2 * (22 + 256), 4 * 256, 3)
    r, g, b = sheet[22 + 10, 3 * 128 + 64].astype(int)  # im2's error tile, inside the missed lesion: red
    assert r > 170 and g < 110 and b < 110
    assert sheet[22 + 10, 4 * 128 + 10].tolist() == [0, 0, 0]  # im2's row is padded to the sheet width
    assert np.abs(sheet[22 + 100, 128 + 64].astype(int) - (150, 110, 80)).max() <= 6  # im2 truth tile: skin colour
    run_evaluation("x", d / "images", d / "masks", "classes", out, segmenter=seg, progress=False, worst=0)
    assert not (out / "worst.jpg").exists() and "worst_images" not in json.loads((out / "summary.json").read_text())
