"""Evaluation of a segmenter against ground-truth masks (``vitiseg evaluate``).

Any segmenter (the shipped U-Net, a model folder, or the ``classical`` baseline) is built by
:func:`vitiseg.segment.load_segmenter` and run exactly as the pipeline runs it: photo read as RGB uint8,
colour-normalised (:func:`vitiseg.normalise.normalise`), then ``predict``.

Ground truth (``--mask-kind``):

- ``classes``: ``(H, W) uint8`` 0/1/2 (background / healthy skin / depigmented skin), e.g. ``vitiseg synth dataset``.
- ``lesion``: 0/255, 255 = depigmented lesion; the rest is unknown skin-or-background (skin metrics not computed).
- ``skin``: 0/255, 255 = skin of photos *without* vitiligo (the true depigmented fraction is 0).

Metrics (depigmented = class 2; skin = classes 1 and 2):

- Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN), per image and *pooled* (TP/FP/FN summed over images).
- **No-lesion convention**: when ground truth and prediction are both empty, Dice = IoU = 1 (nothing to find, nothing
  found); when only one is empty, Dice = IoU = 0. ``mean_dice_lesion_images`` averages only images whose ground truth
  contains the class, and ``n_empty_gt_with_fp`` counts lesion-free images with any false-positive pixel.
- Depigmented fraction = #2 / (#1 + #2) (undefined, and excluded, when an image has no skin). Absolute error per image;
  calibration = least-squares line ``pred = a * true + b``, mean signed error, MAE, RMSE and binned means.
- Skin tone: ITA = atan((L* - 50) / b*) in degrees (Chardon 1991) of the median L*, b* (CIELAB D65, OpenCV) of the
  reference healthy skin of the colour-normalised photo: ground-truth class 1 (``classes``), ground-truth skin
  (``skin``), or a 3-15 px ring around the lesions (``lesion``, model-independent). Images are split into tertiles of
  ITA (T1 = lowest ITA = darkest); the *gap* is max - min of the pooled Dice over tertiles.
- **Where the depigmented errors are** (``classes`` and ``lesion`` masks): false negatives within ``EDGE_PX`` (2 px,
  exact Euclidean distance) of the true lesion border (*edge*, outlines drawn a little tight) versus deeper inside
  (*core*, lesions or lesion interiors missed); false positives within ``EDGE_PX`` outside a true lesion (*edge*)
  versus farther away (*far*, false alarms); for ``classes`` masks also what the missed pixels were called (skin or
  background). Lesions (8-connected components) of the truth with no predicted pixel are *missed*, predicted ones
  touching no true lesion are *false*. Pooled as shares of all FN / FP pixels and of all lesions.

- **Strata** (``--groups CSV --group-by COL[,COL]``, e.g. the ``index.csv`` of ``vitiseg synth dataset`` with its
  ``set`` (background photo set) and ``kind`` (lesion pattern) columns): the same pooled metrics per value of each
  column, plus each stratum's share of all missed (FN) and false (FP) depigmented pixels, so that an average can be
  traced to the photos behind it. Images without a label are counted under ``"(none)"``.

Writes ``OUT/per_image.csv`` and ``OUT/summary.json``; with ``worst`` > 0 (CLI ``--worst``, default 12) also
``OUT/worst.jpg``, one row per image with the most wrong pixels: photo | truth | prediction | errors drawn on the photo
(missed depigmented pixels red, false alarms blue, correct ones green), for looking at failures rather than averages.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Literal

import cv2
import numpy as np
from tqdm import tqdm

from .config import NormaliseConfig, SegmentationConfig
from .images import IMAGE_SUFFIXES, atomic_write_text, read_mask, read_rgb, write_jpeg
from .normalise import normalise

log = logging.getLogger(__name__)

MaskKind = Literal["classes", "lesion", "skin"]
FRACTION_BINS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.6, 1.0000001)
EDGE_PX = 2.0  # error breakdown: FN/FP within this distance of the true lesion border count as "edge" errors
_BREAKDOWN_KEYS = ("fn_edge", "fn_core", "fp_edge", "fp_far", "lesions_true", "lesions_missed", "lesions_pred",
                   "lesions_false", "fn_as_skin", "fn_as_bg")


# ----------------------------------------------------------------------------------------------------- metrics


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


def ita_degrees(rgb: np.ndarray, ref: np.ndarray, min_px: int = 50) -> float:
    """Individual Typology Angle (degrees) of the median L*, b* of ``ref`` pixels; NaN with < ``min_px`` pixels.

    ``rgb``: ``(H, W, 3) uint8`` sRGB; ``ref``: ``(H, W) bool``.
    """
    if int(ref.sum()) < min_px:
        return float("nan")
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    L = float(np.median(lab[..., 0][ref]))
    b = float(np.median(lab[..., 2][ref]))
    return math.degrees(math.atan2(L - 50.0, max(b, 1e-6)))  # = atan((L-50)/b) for b > 0; +-90 when b <= 0


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


def _pooled(rows: list[dict], prefix: str) -> dict[str, Any] | None:
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
            out["errors"] = _pooled_breakdown(rs, fn, fp)
    return out


def _pooled_breakdown(rows: list[dict], fn: int, fp: int) -> dict[str, Any]:
    """Pooled :func:`error_breakdown`: counts, and shares of all FN / FP pixels and of all true / predicted lesions."""
    keys = [k for k in _BREAKDOWN_KEYS if f"depig_{k}" in rows[0]]
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


def ita_tertiles(rows: list[dict], kind: MaskKind = "classes") -> dict[str, Any] | None:
    """Metrics per ITA tertile (T1 darkest); ``None`` with fewer than 3 images with a finite ITA.

    With ``kind == "skin"`` (lesion-free photos) depigmented Dice is not reported (it is 0 or 1 by convention).
    """
    rs = [r for r in rows if np.isfinite(r.get("ita", float("nan")))]
    if len(rs) < 3:
        return None
    ita = np.array([r["ita"] for r in rs])
    c1, c2 = (float(x) for x in np.quantile(ita, [1 / 3, 2 / 3]))
    groups = {"T1": [], "T2": [], "T3": []}
    for r in rs:
        groups["T1" if r["ita"] <= c1 else "T2" if r["ita"] <= c2 else "T3"].append(r)
    out: dict[str, Any] = {"cutoffs_deg": [c1, c2], "tertiles": {}}
    for name, g in groups.items():
        t: dict[str, Any] = {
            "n": len(g),
            "ita_range": [float(min(r["ita"] for r in g)), float(max(r["ita"] for r in g))] if g else None,
        }
        for prefix in ("skin",) if kind == "skin" else ("depig", "skin"):
            p = _pooled(g, prefix) if g else None
            if p:
                t[f"{prefix}_pooled_dice"] = p["pooled_dice"]
                t[f"{prefix}_mean_dice"] = p["mean_dice"]
        fe = [r["fraction_abs_err"] for r in g if np.isfinite(r.get("fraction_abs_err", float("nan")))]
        if fe:
            t["fraction_mae"] = float(np.mean(fe))
        out["tertiles"][name] = t
    for key in ("depig_pooled_dice", "skin_pooled_dice", "fraction_mae"):
        vals = [t[key] for t in out["tertiles"].values() if key in t]
        if len(vals) == 3:
            out[f"gap_{key}"] = float(max(vals) - min(vals))
    return out


NO_GROUP = "(none)"


def read_groups(path: str | Path, columns: Iterable[str]) -> dict[str, dict[str, str]]:
    """Labels of each image id from a CSV with an ``id`` column: ``{column: {id: label}}``.

    Raises ``ValueError`` naming the available columns when the file has no ``id`` column or lacks a requested one.
    """
    p = Path(path)
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        have = list(reader.fieldnames or [])
        cols = [c for c in columns]
        if "id" not in have:
            raise ValueError(f"{p}: no 'id' column (columns: {have})")
        missing = [c for c in cols if c not in have]
        if missing:
            raise ValueError(f"{p}: no column {missing} to group by (columns: {have})")
        out: dict[str, dict[str, str]] = {c: {} for c in cols}
        for r in reader:
            for c in cols:
                out[c][str(r["id"])] = str(r[c])
    return out


def group_metrics(rows: list[dict], labels: dict[str, str], kind: MaskKind) -> dict[str, dict[str, Any]]:
    """Pooled metrics of ``rows`` per label (``labels``: image id -> label; unlabelled ids go to ``"(none)"``).

    Per label: ``n_images``; for ``classes`` / ``lesion`` masks the pooled and mean depigmented Dice and the label's
    shares of all FN and of all FP depigmented pixels (``None`` when there are none); skin pooled Dice when skin
    metrics exist; fraction MAE and mean signed error (pred - true) when fractions exist. Sorted by label.
    """
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(labels.get(str(r["id"]), NO_GROUP), []).append(r)
    fn_all = sum(r.get("depig_fn", 0) for r in rows)
    fp_all = sum(r.get("depig_fp", 0) for r in rows)
    out: dict[str, dict[str, Any]] = {}
    for lab in sorted(by):
        g = by[lab]
        m: dict[str, Any] = {"n_images": len(g)}
        dep = _pooled(g, "depig")
        if dep and kind != "skin":
            m["depig_pooled_dice"] = dep["pooled_dice"]
            m["depig_mean_dice"] = dep["mean_dice"]
            m["fn_share"] = sum(r["depig_fn"] for r in g) / fn_all if fn_all else None
            m["fp_share"] = sum(r["depig_fp"] for r in g) / fp_all if fp_all else None
        sk = _pooled(g, "skin")
        if sk:
            m["skin_pooled_dice"] = sk["pooled_dice"]
        errs = [r["fraction_pred"] - r["fraction_true"] for r in g
                if np.isfinite(r.get("fraction_abs_err", float("nan")))]
        if errs:
            m["fraction_mae"] = float(np.mean(np.abs(errs)))
            m["fraction_bias"] = float(np.mean(errs))
        out[lab] = m
    return out


def summarise(rows: list[dict], kind: MaskKind) -> dict[str, Any]:
    """Dataset-level metrics of per-image rows (see module doc)."""
    s: dict[str, Any] = {"n_images": len(rows), "mask_kind": kind}
    dep = _pooled(rows, "depig")
    if dep and kind != "skin":
        s["depigmented"] = dep
    if kind == "skin" and dep:
        # lesion-free photos: any depigmented prediction is a false positive
        s["depigmented_false_positive"] = {
            "n_images_with_fp": dep["n_empty_gt_with_fp"],
            "fp_pixels": int(sum(r["depig_fp"] for r in rows)),
        }
    sk = _pooled(rows, "skin")
    if sk:
        s["skin"] = sk
    if any("fraction_true" in r for r in rows):
        s["fraction"] = fraction_calibration(
            [r.get("fraction_true", float("nan")) for r in rows], [r.get("fraction_pred", float("nan")) for r in rows]
        )
        s["fraction_n_undefined"] = sum(1 for r in rows if not np.isfinite(r.get("fraction_abs_err", float("nan"))))
    s["ita"] = ita_tertiles(rows, kind)
    return s


# ----------------------------------------------------------------------------------------------------- dataset


@dataclass(frozen=True)
class EvalItem:
    id: str
    image: Path
    mask: Path


def list_items(
    images: str | Path,
    masks: str | Path,
    ids: Iterable[str] | None = None,
    max_images: int | None = None,
) -> list[EvalItem]:
    """Pair ``images/<stem>.<ext>`` with ``masks/<stem>.png`` (sorted by stem), optionally restricted to ``ids``."""
    idir, mdir = Path(images), Path(masks)
    if not idir.is_dir():
        raise FileNotFoundError(f"image folder not found: {idir}")
    if not mdir.is_dir():
        raise FileNotFoundError(f"mask folder not found: {mdir}")
    wanted = set(ids) if ids is not None else None
    items = []
    for p in sorted(idir.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or (wanted is not None and p.stem not in wanted):
            continue
        m = mdir / f"{p.stem}.png"
        if not m.is_file():
            log.warning("no mask for %s; skipped", p.name)
            continue
        items.append(EvalItem(p.stem, p, m))
    if wanted is not None:
        missing = wanted - {it.id for it in items}
        if missing:
            log.warning("%d requested ids have no image+mask pair (e.g. %s)", len(missing), sorted(missing)[:3])
    return items[:max_images] if max_images else items


def read_ids(path: str | Path, split: str | None = None) -> list[str]:
    """Ids from a text file (one per line), a CSV with ``id`` (and ``split``) columns, or a ``splits.json``."""
    p = Path(path)
    if p.suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        if split is None:
            raise ValueError(f"{p}: --split is required with a splits.json ({sorted(data)})")
        if split not in data:
            raise ValueError(f"{p}: no split {split!r} (has {sorted(data)})")
        return [str(x) for x in data[split]]
    if p.suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            return [str(r["id"]) for r in csv.DictReader(f) if split is None or r.get("split") == split]
    return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]


def evaluate_items(
    segmenter: Any,
    items: list[EvalItem],
    kind: MaskKind,
    norm: NormaliseConfig = NormaliseConfig(),
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run ``segmenter.predict`` on each colour-normalised photo and compute :func:`image_metrics` + ITA."""
    rows = []
    for it in tqdm(items, desc="evaluate", unit="img", disable=not progress):
        rgb = normalise(read_rgb(it.image), norm)
        gt = read_mask(it.mask)
        if gt.ndim == 3:
            gt = gt[..., 0]
        if gt.shape != rgb.shape[:2]:
            raise ValueError(f"mask {it.mask} is {gt.shape}, image {it.image} is {rgb.shape[:2]}")
        if kind == "classes" and gt.max() > 2:
            raise ValueError(f"{it.mask}: values > 2 in a class mask (use --mask-kind lesion or skin for 0/255 masks)")
        rows.append(evaluate_array(segmenter, it.id, rgb, gt, kind))
    return rows


def evaluate_array(segmenter: Any, id_: str, rgb: np.ndarray, gt: np.ndarray, kind: MaskKind) -> dict[str, Any]:
    """Metrics row of one colour-normalised ``(H, W, 3) uint8`` photo against its ``(H, W) uint8`` ground truth."""
    t0 = time.perf_counter()
    pred = segmenter.predict(rgb)
    dt = time.perf_counter() - t0
    r: dict[str, Any] = {"id": id_, "width": rgb.shape[1], "height": rgb.shape[0]}
    r.update(image_metrics(pred, gt, kind))
    if kind == "classes":
        ref = gt == 1
    elif kind == "skin":
        ref = gt > 127
    else:
        ref = lesion_ring(gt > 127)
    r["ita"] = ita_degrees(rgb, ref)
    r["seconds"] = dt
    return r


# ----------------------------------------------------------------------------------------------------- CLI


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="'default' (shipped U-Net), 'classical', or a model folder")
    p.add_argument("--images", required=True, help="folder of photos")
    p.add_argument("--masks", required=True, help="folder of ground-truth masks <stem>.png")
    p.add_argument(
        "--mask-kind",
        choices=["classes", "lesion", "skin"],
        default="classes",
        help="classes: 0/1/2; lesion: 0/255 lesion polygons; skin: 0/255 skin of lesion-free photos",
    )
    p.add_argument("--ids", help="restrict to ids from a .txt (one per line), .csv (id[,split]) or splits.json")
    p.add_argument("--split", help="split name to select in --ids (.csv 'split' column or splits.json key)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument(
        "--normalise", choices=["shades_of_grey", "grey_world", "none"], default=None,
        help="colour normalisation (default: the model's config.json, else shades_of_grey)",
    )
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--out", help="output folder (default runs/evaluate/<model>-<UTC time>)")
    p.add_argument("--groups", help="CSV with an 'id' column and label columns (e.g. a synthetic set's index.csv): "
                   "metrics are also reported per label of each --group-by column")
    p.add_argument("--group-by", default="set,kind",
                   help="comma-separated columns of --groups to stratify by (default: set,kind)")
    p.add_argument("--worst", type=int, default=12,
                   help="draw the N images with the most wrong pixels into OUT/worst.jpg (0: none; default 12)")


def _norm_for(segmenter: Any, override: str | None) -> NormaliseConfig:
    if override:
        return NormaliseConfig(method=override)
    cfg = getattr(segmenter, "cfg", None)
    if cfg is not None and hasattr(cfg, "colour_normalisation"):
        return cfg.colour_normalisation
    return NormaliseConfig()


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def run_evaluation(
    model: str,
    images: str | Path,
    masks: str | Path,
    kind: MaskKind,
    out: str | Path,
    ids: list[str] | None = None,
    max_images: int | None = None,
    normalise_method: str | None = None,
    device: str = "auto",
    progress: bool = True,
    segmenter: Any = None,
    worst: int = 0,
    groups: dict[str, dict[str, str]] | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (``default`` / ``classical`` / folder) on a dataset; writes and returns ``summary.json``.

    ``segmenter``: an already loaded segmenter to use instead of loading ``model`` again. The per-image rows are
    returned under the key ``"rows"`` (not written to summary.json; they are in per_image.csv). ``worst`` > 0 also
    writes ``OUT/worst.jpg`` (:func:`worst_sheet`) and lists those images in the summary (``worst_images``).
    ``groups`` (:func:`read_groups`) adds ``metrics["groups"][column][label]`` (:func:`group_metrics`).
    """
    from .segment import load_segmenter

    seg = segmenter if segmenter is not None else load_segmenter(SegmentationConfig(model=model, device=device))
    norm = _norm_for(seg, normalise_method)
    items = list_items(images, masks, ids, max_images)
    if not items:
        raise ValueError(f"no image/mask pairs found in {images} and {masks}")
    t0 = time.time()
    rows = evaluate_items(seg, items, kind, norm, progress=progress)
    summary = {
        "model": seg.identity,
        "images": str(Path(images).resolve()),
        "masks": str(Path(masks).resolve()),
        "mask_kind": kind,
        "normalise": norm.model_dump(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds_total": time.time() - t0,
        "seconds_per_image_mean": float(np.mean([r["seconds"] for r in rows])),
        "conventions": {
            "empty_gt_and_empty_pred": "dice = iou = 1",
            "empty_gt_nonempty_pred_or_reverse": "dice = iou = 0",
            "pooled": "TP/FP/FN summed over images, then Dice/IoU",
            "fraction": "#2/(#1+#2); undefined (excluded) when no skin; skin masks of lesion-free photos: true = 0",
            "ita": "degrees, median L*/b* of reference healthy skin of the colour-normalised photo; T1 = darkest",
        },
        "metrics": summarise(rows, kind),
    }
    if groups:
        summary["metrics"]["groups"] = {col: group_metrics(rows, lab, kind) for col, lab in groups.items()}
    if worst > 0:
        summary["worst_images"] = [
            {"id": r["id"], "wrong_px": wrong_pixels(r, kind)} for r in worst_rows(rows, kind, worst)
        ]
    o = Path(out)
    o.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    lines = [",".join(keys)]
    for r in rows:
        lines.append(",".join(_csv_val(r.get(k)) for k in keys))
    atomic_write_text(o / "per_image.csv", "\n".join(lines) + "\n")
    atomic_write_text(o / "summary.json", json.dumps(summary, indent=2, default=_json_default) + "\n")
    sheet = worst_sheet(seg, items, rows, kind, norm, worst) if worst > 0 else None
    if sheet is not None:
        write_jpeg(o / "worst.jpg", sheet, quality=85)
    else:
        (o / "worst.jpg").unlink(missing_ok=True)  # never leave a sheet from an earlier run beside this summary
    return {**summary, "rows": rows}


# ----------------------------------------------------------------------------------------------------- worst cases

TILE_PX = 256  # height of each tile of the worst-cases sheet
_CAPTION_PX = 22
_CLASS_RGB = np.array([[0, 0, 0], [150, 110, 80], [255, 255, 255]], np.uint8)  # background, skin, depigmented
_ERR_RGB = {"tp": (40, 200, 60), "fn": (230, 30, 30), "fp": (40, 120, 255)}


def wrong_pixels(row: dict[str, Any], kind: MaskKind) -> int:
    """Number of wrong pixels of a per-image row: depigmented FN + FP, plus skin FN + FP for ``skin`` masks."""
    n = int(row.get("depig_fn", 0)) + int(row.get("depig_fp", 0))
    if kind == "skin":
        n += int(row.get("skin_fn", 0)) + int(row.get("skin_fp", 0))
    return n


def worst_rows(rows: list[dict], kind: MaskKind, n: int) -> list[dict]:
    """The ``n`` rows with the most :func:`wrong_pixels` (> 0), most first; ties keep the input order."""
    return sorted((r for r in rows if wrong_pixels(r, kind) > 0), key=lambda r: -wrong_pixels(r, kind))[:n]


def truth_rgb(gt: np.ndarray, kind: MaskKind) -> np.ndarray:
    """Ground truth as ``(H, W, 3) uint8`` RGB in the class colours (``lesion``: white lesion on black = unknown)."""
    if kind == "classes":
        return _CLASS_RGB[np.clip(gt, 0, 2)]
    if kind == "lesion":
        return _CLASS_RGB[np.where(gt > 127, 2, 0)]
    return _CLASS_RGB[np.where(gt > 127, 1, 0)]


def error_overlay(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray, kind: MaskKind) -> np.ndarray:
    """The photo dimmed, with depigmented TP green, FN red and FP blue (``skin`` masks: skin errors instead)."""
    if kind == "skin":
        p, g = pred > 0, gt > 127
    else:
        p, g = pred == 2, (gt == 2) if kind == "classes" else (gt > 127)
    out = (rgb.astype(np.float32) * 0.45).astype(np.uint8)
    for name, m in (("tp", p & g), ("fn", g & ~p), ("fp", p & ~g)):
        out[m] = (0.35 * rgb[m] + 0.65 * np.array(_ERR_RGB[name], np.float32)).astype(np.uint8)
    return out


def error_panel(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray, kind: MaskKind, caption: str) -> np.ndarray:
    """One sheet row: photo | truth | prediction | errors, each ``TILE_PX`` high, under a caption; RGB uint8."""
    h, w = gt.shape
    tw = max(1, round(w * TILE_PX / h))
    tiles = [rgb, truth_rgb(gt, kind), _CLASS_RGB[np.clip(pred, 0, 2)], error_overlay(rgb, pred, gt, kind)]
    tiles = [cv2.resize(t, (tw, TILE_PX), interpolation=cv2.INTER_AREA if i in (0, 3) else cv2.INTER_NEAREST)
             for i, t in enumerate(tiles)]
    row = np.concatenate(tiles, axis=1)
    bar = np.full((_CAPTION_PX, row.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (4, _CAPTION_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, row], axis=0)


def worst_sheet(
    segmenter: Any, items: list[EvalItem], rows: list[dict], kind: MaskKind, norm: NormaliseConfig, n: int
) -> np.ndarray | None:
    """Sheet (``(H, W, 3) uint8`` RGB) of the ``n`` images with the most wrong pixels (ties: input order); None if
    no image has any error. Predicts those images again (exactly as :func:`evaluate_items` did)."""
    by_id = {it.id: it for it in items}
    ranked = worst_rows(rows, kind, n)
    if not ranked:
        return None
    panels = []
    for r in ranked:
        it = by_id[r["id"]]
        rgb = normalise(read_rgb(it.image), norm)
        gt = read_mask(it.mask)
        gt = gt[..., 0] if gt.ndim == 3 else gt
        pred = segmenter.predict(rgb)
        if kind == "skin":
            cap = f"{r['id']}  skin Dice {r['skin_dice']:.3f}  false depigmented px {r['depig_fp']}"
        else:
            cap = f"{r['id']}  Dice {r['depig_dice']:.3f}  missed px {r['depig_fn']}  false px {r['depig_fp']}"
        panels.append(error_panel(rgb, pred, gt, kind, cap))
    width = max(p.shape[1] for p in panels)
    panels = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in panels]
    return np.concatenate(panels, axis=0)


def _csv_val(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    s = str(v)
    return f'"{s}"' if "," in s else s


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def main(args: argparse.Namespace) -> int:
    ids = read_ids(args.ids, args.split) if args.ids else None
    cols = [c.strip() for c in args.group_by.split(",") if c.strip()]
    groups = read_groups(args.groups, cols) if args.groups else None
    name = Path(args.model).name if args.model not in ("default", "classical") else args.model
    out = args.out or str(
        Path("runs") / "evaluate" / f"{name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
    )
    s = run_evaluation(
        args.model, args.images, args.masks, args.mask_kind, out, ids, args.max_images, args.normalise, args.device,
        worst=args.worst, groups=groups,
    )
    m = s["metrics"]
    log.info("model %s (%s) on %d images -> %s", s["model"].get("name"), s["model"].get("kind"), m["n_images"], out)
    for key in ("depigmented", "skin"):
        if key in m:
            d = m[key]
            log.info(
                "%-12s pooled Dice %s IoU %s | mean Dice %s IoU %s",
                key, _fmt(d["pooled_dice"]), _fmt(d["pooled_iou"]), _fmt(d["mean_dice"]), _fmt(d["mean_iou"]),
            )
    e = m.get("depigmented", {}).get("errors")
    if e:
        log.info(
            "errors       FN: %s within %g px of the true border, %s deeper | FP: %s at a border, %s far | "
            "lesions missed %s, false %s",
            _pct(e["fn_edge_share"]), e["edge_px"], _pct(e["fn_core_share"]), _pct(e["fp_edge_share"]),
            _pct(e["fp_far_share"]), _pct(e["lesions_missed_share"]), _pct(e["lesions_false_share"]),
        )
    if m.get("fraction"):
        f = m["fraction"]
        log.info("fraction     MAE %s bias %s slope %s", _fmt(f["mae"]), _fmt(f["mean_signed_error"]), _fmt(f["slope"]))
    if m.get("ita"):
        log.info("ITA tertiles %s", {k: v for k, v in m["ita"].items() if k.startswith("gap")})
    for col, per in m.get("groups", {}).items():
        for lab, g in per.items():
            log.info(
                "%s=%-20s n=%-4d depigmented Dice %s (share of missed px %s) skin Dice %s fraction MAE %s bias %s",
                col, lab, g["n_images"], _fmt(g.get("depig_pooled_dice")), _pct(g.get("fn_share")),
                _fmt(g.get("skin_pooled_dice")), _fmt(g.get("fraction_mae")), _fmt(g.get("fraction_bias")),
            )
    if (Path(out) / "worst.jpg").is_file() and s.get("worst_images"):
        log.info("the %d images with the most wrong pixels: %s", len(s["worst_images"]), Path(out) / "worst.jpg")
    return 0
