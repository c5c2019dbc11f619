"""Segmentation metrics with exact expected numbers: Dice / IoU, the no-lesion convention, where the errors are,
pooled summaries and fraction calibration."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vitiseg.evaluation.metrics import (
    dice_iou,
    fraction,
    fraction_calibration,
    image_metrics,
    lesion_ring,
    overlap_counts,
)
from vitiseg.evaluation.runner import summarise

from helpers import class_mask


def test_dice_iou_exact():
    pred = np.zeros((4, 4), bool)
    gt = np.zeros((4, 4), bool)
    pred[0, :4] = True  # 4 px
    gt[0, 1:4] = True
    gt[1, :3] = True  # 6 px, overlap 3
    tp, fp, fn = overlap_counts(pred, gt)
    assert (tp, fp, fn) == (3, 1, 3)
    d, i = dice_iou(tp, fp, fn)
    assert d == pytest.approx(6 / 10) and i == pytest.approx(3 / 7)


def test_no_lesion_convention():
    assert dice_iou(0, 0, 0) == (1.0, 1.0)  # nothing to find, nothing found
    assert dice_iou(0, 5, 0) == (0.0, 0.0)  # false positives on a lesion-free image
    assert dice_iou(0, 0, 5) == (0.0, 0.0)


def test_image_metrics_classes_exact():
    gt = class_mask(10, 10, (slice(0, 10), slice(0, 5)), (slice(0, 2), slice(0, 5)))  # skin 50, depig 10
    pred = class_mask(10, 10, (slice(0, 10), slice(0, 6)), (slice(0, 3), slice(0, 4)))  # skin 60, depig 12
    r = image_metrics(pred, gt, "classes")
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
    r = image_metrics(pred, gt, "classes")
    assert (r["depig_tp"], r["depig_fp"], r["depig_fn"]) == (26, 5, 72)
    # A: 23 FN, all on its outer ring (1 px from the border); B: rings at 1 and 2 px (24 + 16) are edge, the rings at
    # 3 px (8) and the centre (1) are core
    assert (r["depig_fn_edge"], r["depig_fn_core"]) == (23 + 40, 9)
    assert (r["depig_fp_edge"], r["depig_fp_far"]) == (1, 4)
    assert (r["depig_fn_as_skin"], r["depig_fn_as_bg"]) == (63, 9)
    assert (r["depig_lesions_true"], r["depig_lesions_missed"]) == (2, 1)
    assert (r["depig_lesions_pred"], r["depig_lesions_false"]) == (2, 1)
    # a lesion-free image: every false positive is "far", no lesion to miss
    r0 = image_metrics(pred, np.ones((20, 20), np.uint8), "classes")
    assert (r0["depig_fp_edge"], r0["depig_fp_far"], r0["depig_lesions_true"]) == (0, 31, 0)
    assert r0["depig_lesions_false"] == 2
    s = summarise([r, r0], "classes")["depigmented"]["errors"]
    assert s["counts"]["fn_core"] == 9 and s["fn_core_share"] == pytest.approx(9 / 72)
    assert s["fp_far_share"] == pytest.approx(35 / 36) and s["fn_as_bg_share"] == pytest.approx(9 / 72)
    assert s["lesions_missed_share"] == pytest.approx(1 / 2) and s["lesions_false_share"] == pytest.approx(3 / 4)
    # coarse polygon masks: the same breakdown without the skin/background split of the misses
    rl = image_metrics(pred, np.where(gt == 2, 255, 0).astype(np.uint8), "lesion")
    assert rl["depig_fn_core"] == 9 and "depig_fn_as_bg" not in rl
    assert "errors" not in summarise([image_metrics(pred, gt * 0, "skin")], "skin").get("depigmented", {})


def test_image_metrics_lesion_and_skin_kinds():
    lesion = np.zeros((6, 6), np.uint8)
    lesion[:2, :3] = 255
    pred = np.ones((6, 6), np.uint8)
    pred[:2, :2] = 2
    r = image_metrics(pred, lesion, "lesion")
    assert (r["depig_tp"], r["depig_fp"], r["depig_fn"]) == (4, 0, 2)
    assert "skin_dice" not in r and "fraction_true" not in r
    skin = np.zeros((6, 6), np.uint8)
    skin[:, :3] = 255  # 18 skin px, no lesion
    r = image_metrics(pred, skin, "skin")
    assert r["fraction_true"] == 0.0 and r["fraction_pred"] == pytest.approx(4 / 36)
    assert r["skin_dice"] == pytest.approx(36 / 54)
    assert r["depig_dice"] == 0.0 and not r["gt_has_lesion"]


def test_fraction_undefined_without_skin():
    assert math.isnan(fraction(np.zeros((3, 3), np.uint8)))
    r = image_metrics(np.zeros((3, 3), np.uint8), np.zeros((3, 3), np.uint8), "classes")
    assert math.isnan(r["fraction_abs_err"]) and r["depig_dice"] == 1.0 and r["skin_dice"] == 1.0


def test_summary_pooled_vs_mean_and_empty_images():
    rows = [
        {"depig_tp": 8, "depig_fp": 4, "depig_fn": 2, "depig_dice": 16 / 22, "depig_iou": 8 / 14, "gt_has_lesion": True},
        {"depig_tp": 0, "depig_fp": 0, "depig_fn": 0, "depig_dice": 1.0, "depig_iou": 1.0, "gt_has_lesion": False},
        {"depig_tp": 0, "depig_fp": 3, "depig_fn": 0, "depig_dice": 0.0, "depig_iou": 0.0, "gt_has_lesion": False},
    ]
    s = summarise(rows, "lesion")["depigmented"]
    assert s["pooled_dice"] == pytest.approx(16 / 25) and s["pooled_iou"] == pytest.approx(8 / 17)
    assert s["mean_dice"] == pytest.approx((16 / 22 + 1.0 + 0.0) / 3)
    assert s["mean_dice_lesion_images"] == pytest.approx(16 / 22)
    assert s["n_images_with_lesion"] == 1 and s["n_empty_gt_with_fp"] == 1


def test_fraction_calibration():
    t = [0.0, 0.1, 0.2, 0.5]
    c = fraction_calibration(t, [2 * x + 0.01 for x in t])
    assert c["slope"] == pytest.approx(2.0) and c["intercept"] == pytest.approx(0.01)
    assert c["mean_signed_error"] == pytest.approx(np.mean([x + 0.01 for x in t]))
    assert sum(b["n"] for b in c["bins"]) == 4
    c = fraction_calibration([0.2, float("nan")], [0.3, 0.1])
    assert c["n_images"] == 1 and c["mae"] == pytest.approx(0.1) and c["slope"] is None


def test_lesion_ring():
    les = np.zeros((50, 50), bool)
    les[20:30, 20:30] = True
    ring = lesion_ring(les, 3, 10)
    assert not (ring & les).any() and ring.any()
    assert not ring[20:30, 20:30].any() and not ring[0, 0]
