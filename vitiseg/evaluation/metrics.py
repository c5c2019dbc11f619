"""Segmentation metrics of one image and pooled over many: Dice / IoU, where the errors are, fraction calibration.

Classes: 0 background, 1 healthy skin, 2 depigmented skin (depigmented skin is skin). Ground-truth kinds
(:data:`MaskKind`): ``classes`` (0/1/2), ``lesion`` (0/255 lesion polygons; the rest is unknown skin-or-background)
and ``skin`` (0/255 skin of photos without vitiligo). Conventions are those of :mod:`vitiseg.evaluation.runner`.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Literal

import cv2
import numpy as np

MaskKind = Literal["classes", "lesion", "skin"]
FRACTION_BINS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6, 1.0000001)
EDGE_PX = 2.0  # error breakdown: FN/FP within this distance of the true lesion border count as "edge" errors
BREAKDOWN_KEYS = ("fn_edge", "fn_core", "fp_edge", "fp_far", "lesions_true", "lesions_missed", "lesions_pred",
                   "lesions_false", "fn_as_skin", "fn_as_bg")


def overlap_counts(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray | None = None) -> tuple[int, int, int]:
    """``(TP, FP, FN)`` of two ``(H, W) bool`` masks, optionally restricted to ``valid`` pixels."""
    if valid is not None:
        pred, gt = pred & valid, gt & valid
    tp = int(np.count_nonzero(pred & gt))
    fp = int(np.count_nonzero(pred & ~gt))
    fn = int(np.count_nonzero(~pred & gt))
    return tp, fp, fn


def dice_iou(tp: int, fp: int, fn: int) -> tuple[float, float]:
    """Dice and IoU from counts, with the no-lesion convention: both empty -> (1.0, 1.0)."""
    denom = 2 * tp + fp + fn
    if denom == 0:
        return 1.0, 1.0
    return 2.0 * tp / denom, tp / (tp + fp + fn)


def fraction(classes: np.ndarray) -> float:
    """Depigmented fraction #2 / (#1 + #2) of a class mask; NaN when there is no skin."""
    skin = int(np.count_nonzero(classes > 0))
    if skin == 0:
        return float("nan")
    return int(np.count_nonzero(classes == 2)) / skin


def _distance_to(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (px) of every pixel to the nearest ``True`` pixel of ``mask`` (inf if none)."""
    if not mask.any():
        return np.full(mask.shape, np.inf, np.float32)
    return cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _n_components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """Number of 8-connected components of a ``(H, W) bool`` mask and the ``int32`` label image (0 = none)."""
    n, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    return n - 1, labels


def error_breakdown(pred: np.ndarray, gt_dep: np.ndarray, pred_classes: np.ndarray | None = None) -> dict[str, int]:
    """Where the depigmented errors of one image are (see module doc), as pixel and lesion counts.

    ``pred``, ``gt_dep``: ``(H, W) bool`` predicted / true depigmented pixels; ``pred_classes``: the ``(H, W) uint8``
    0/1/2 prediction, to split the false negatives by what they were called (keys ``fn_as_skin``, ``fn_as_bg``).
    """
    fn = gt_dep & ~pred
    fp = pred & ~gt_dep
    # inside a lesion: distance to the nearest non-lesion pixel; outside: distance to the nearest lesion pixel
    fn_edge = int(np.count_nonzero(fn & (_distance_to(~gt_dep) <= EDGE_PX)))
    fp_edge = int(np.count_nonzero(fp & (_distance_to(gt_dep) <= EDGE_PX)))
    n_true, lab_true = _n_components(gt_dep)
    n_pred, lab_pred = _n_components(pred)
    hit_true = np.unique(lab_true[pred & gt_dep])
    hit_pred = np.unique(lab_pred[pred & gt_dep])
    out = {
        "fn_edge": fn_edge,
        "fn_core": int(np.count_nonzero(fn)) - fn_edge,
        "fp_edge": fp_edge,
        "fp_far": int(np.count_nonzero(fp)) - fp_edge,
        "lesions_true": n_true,
        "lesions_missed": n_true - int(np.count_nonzero(hit_true)),
        "lesions_pred": n_pred,
        "lesions_false": n_pred - int(np.count_nonzero(hit_pred)),
    }
    if pred_classes is not None:
        out["fn_as_skin"] = int(np.count_nonzero(fn & (pred_classes == 1)))
        out["fn_as_bg"] = int(np.count_nonzero(fn & (pred_classes == 0)))
    return out


def lesion_ring(lesion: np.ndarray, inner: int = 3, outer: int = 15) -> np.ndarray:
    """Pixels between ``inner`` and ``outer`` px outside a ``(H, W) bool`` lesion mask (healthy-skin reference)."""
    if not lesion.any():
        return np.zeros_like(lesion)
    u8 = lesion.astype(np.uint8)
    k_out = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer + 1, 2 * outer + 1))
    k_in = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inner + 1, 2 * inner + 1))
    return cv2.dilate(u8, k_out).astype(bool) & ~cv2.dilate(u8, k_in).astype(bool)


def image_metrics(pred: np.ndarray, gt: np.ndarray, kind: MaskKind) -> dict[str, Any]:
    """Per-image metrics of a ``(H, W) uint8`` class prediction against a ground-truth mask of ``kind``.

    Returns counts (``depig_tp/fp/fn``, ``skin_tp/fp/fn``), ``depig_dice/iou``, ``skin_dice/iou``,
    ``fraction_true/pred/abs_err`` and ``gt_has_lesion``; metrics that ``kind`` cannot support are absent.
    """
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and mask {gt.shape} differ in shape")
    r: dict[str, Any] = {}
    pred_dep = pred == 2
    pred_skin = pred > 0
    if kind == "classes":
        gt_dep, gt_skin = gt == 2, gt > 0
    elif kind == "lesion":
        gt_dep, gt_skin = gt > 127, None
    else:
        gt_dep, gt_skin = np.zeros(gt.shape, bool), gt > 127
    tp, fp, fn = overlap_counts(pred_dep, gt_dep)
    r.update(depig_tp=tp, depig_fp=fp, depig_fn=fn, gt_has_lesion=bool(gt_dep.any()))
    r["depig_dice"], r["depig_iou"] = dice_iou(tp, fp, fn)
    if kind != "skin":
        eb = error_breakdown(pred_dep, gt_dep, pred if kind == "classes" else None)
        r.update({f"depig_{k}": v for k, v in eb.items()})
    if gt_skin is not None:
        tp, fp, fn = overlap_counts(pred_skin, gt_skin)
        r.update(skin_tp=tp, skin_fp=fp, skin_fn=fn)
        r["skin_dice"], r["skin_iou"] = dice_iou(tp, fp, fn)
        if kind == "classes":
            ft = fraction(gt)
        else:
            ft = 0.0 if gt_skin.any() else float("nan")
        fpred = fraction(pred)
        r["fraction_true"] = ft
        r["fraction_pred"] = fpred
        r["fraction_abs_err"] = abs(fpred - ft) if not (math.isnan(ft) or math.isnan(fpred)) else float("nan")
    return r


def pooled(rows: list[dict], prefix: str) -> dict[str, Any] | None:
    key = f"{prefix}_tp"
    rs = [r for r in rows if key in r]
    if not rs:
        return None
    tp = sum(r[f"{prefix}_tp"] for r in rs)
    fp = sum(r[f"{prefix}_fp"] for r in rs)
    fn = sum(r[f"{prefix}_fn"] for r in rs)
    d, i = dice_iou(tp, fp, fn)
    out = {
        "n_images": len(rs),
        "pooled_dice": d,
        "pooled_iou": i,
        "mean_dice": float(np.mean([r[f"{prefix}_dice"] for r in rs])),
        "mean_iou": float(np.mean([r[f"{prefix}_iou"] for r in rs])),
        "median_dice": float(np.median([r[f"{prefix}_dice"] for r in rs])),
    }
    if prefix == "depig":
        les = [r for r in rs if r["gt_has_lesion"]]
        out["n_images_with_lesion"] = len(les)
        out["mean_dice_lesion_images"] = float(np.mean([r["depig_dice"] for r in les])) if les else None
        out["n_empty_gt_with_fp"] = sum(1 for r in rs if not r["gt_has_lesion"] and r["depig_fp"] > 0)
        if all("depig_fn_edge" in r for r in rs):
            out["errors"] = pooled_breakdown(rs, fn, fp)
    return out


def pooled_breakdown(rows: list[dict], fn: int, fp: int) -> dict[str, Any]:
    """Pooled :func:`error_breakdown`: counts, and shares of all FN / FP pixels and of all true / predicted lesions."""
    keys = [k for k in BREAKDOWN_KEYS if f"depig_{k}" in rows[0]]
    tot = {k: int(sum(r[f"depig_{k}"] for r in rows)) for k in keys}

    def share(a: int, b: int) -> float | None:
        return a / b if b else None

    out: dict[str, Any] = {"edge_px": EDGE_PX, "counts": tot}
    out["fn_edge_share"] = share(tot["fn_edge"], fn)
    out["fn_core_share"] = share(tot["fn_core"], fn)
    out["fp_edge_share"] = share(tot["fp_edge"], fp)
    out["fp_far_share"] = share(tot["fp_far"], fp)
    if "fn_as_skin" in tot:
        out["fn_as_skin_share"] = share(tot["fn_as_skin"], fn)
        out["fn_as_bg_share"] = share(tot["fn_as_bg"], fn)
    out["lesions_missed_share"] = share(tot["lesions_missed"], tot["lesions_true"])
    out["lesions_false_share"] = share(tot["lesions_false"], tot["lesions_pred"])
    return out


def fraction_calibration(true: Iterable[float], pred: Iterable[float]) -> dict[str, Any] | None:
    """Calibration of the depigmented fraction: line fit, bias, MAE, RMSE, Pearson r and binned means (NaNs dropped)."""
    t = np.asarray(list(true), dtype=np.float64)
    p = np.asarray(list(pred), dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(p)
    t, p = t[ok], p[ok]
    if t.size == 0:
        return None
    err = p - t
    out: dict[str, Any] = {
        "n_images": int(t.size),
        "mean_signed_error": float(err.mean()),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "max_abs_error": float(np.abs(err).max()),
    }
    if t.size >= 2 and np.ptp(t) > 0:
        a, b = np.polyfit(t, p, 1)
        out["slope"], out["intercept"] = float(a), float(b)
        out["pearson_r"] = float(np.corrcoef(t, p)[0, 1]) if np.ptp(p) > 0 else None
    else:
        out["slope"] = out["intercept"] = out["pearson_r"] = None
    bins = []
    for lo, hi in zip(FRACTION_BINS[:-1], FRACTION_BINS[1:]):
        sel = (t >= lo) & (t < hi)
        if sel.any():
            bins.append(
                {
                    "true_range": [lo, min(hi, 1.0)],
                    "n": int(sel.sum()),
                    "mean_true": float(t[sel].mean()),
                    "mean_pred": float(p[sel].mean()),
                    "mae": float(np.abs(err[sel]).mean()),
                }
            )
    out["bins"] = bins
    return out
