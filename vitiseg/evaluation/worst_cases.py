"""The worst cases of an evaluation as one sheet: photo | truth | prediction | errors drawn on the photo.

Missed depigmented pixels red, false alarms blue, correct ones green: for looking at failures rather than averages.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..io.images import read_mask, read_rgb
from ..segmentation.base import Segmenter, segment_photo
from .metrics import MaskKind

TILE_PX = 256  # height of each tile of the worst-cases sheet
CAPTION_PX = 22
CLASS_RGB = np.array([[0, 0, 0], [150, 110, 80], [255, 255, 255]], np.uint8)  # background, skin, depigmented
ERR_RGB = {"tp": (40, 200, 60), "fn": (230, 30, 30), "fp": (40, 120, 255)}


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
        return CLASS_RGB[np.clip(gt, 0, 2)]
    if kind == "lesion":
        return CLASS_RGB[np.where(gt > 127, 2, 0)]
    return CLASS_RGB[np.where(gt > 127, 1, 0)]


def error_overlay(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray, kind: MaskKind) -> np.ndarray:
    """The photo dimmed, with depigmented TP green, FN red and FP blue (``skin`` masks: skin errors instead)."""
    if kind == "skin":
        p, g = pred > 0, gt > 127
    else:
        p, g = pred == 2, (gt == 2) if kind == "classes" else (gt > 127)
    out = (rgb.astype(np.float32) * 0.45).astype(np.uint8)
    for name, m in (("tp", p & g), ("fn", g & ~p), ("fp", p & ~g)):
        out[m] = (0.35 * rgb[m] + 0.65 * np.array(ERR_RGB[name], np.float32)).astype(np.uint8)
    return out


def error_panel(rgb: np.ndarray, pred: np.ndarray, gt: np.ndarray, kind: MaskKind, caption: str) -> np.ndarray:
    """One sheet row: photo | truth | prediction | errors, each ``TILE_PX`` high, under a caption; RGB uint8."""
    h, w = gt.shape
    tw = max(1, round(w * TILE_PX / h))
    tiles = [rgb, truth_rgb(gt, kind), CLASS_RGB[np.clip(pred, 0, 2)], error_overlay(rgb, pred, gt, kind)]
    tiles = [cv2.resize(t, (tw, TILE_PX), interpolation=cv2.INTER_AREA if i in (0, 3) else cv2.INTER_NEAREST)
             for i, t in enumerate(tiles)]
    row = np.concatenate(tiles, axis=1)
    bar = np.full((CAPTION_PX, row.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, caption, (4, CAPTION_PX - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, row], axis=0)


def worst_sheet(
    segmenter: Segmenter, items: list[Any], rows: list[dict], kind: MaskKind, work_long_side: int, n: int
) -> np.ndarray | None:
    """Sheet (``(H, W, 3) uint8`` RGB) of the ``n`` images with the most wrong pixels (ties: input order); None if
    no image has any error. Segments those images again, exactly as the evaluation did (``items``: objects with
    ``id``, ``image`` and ``mask`` paths). The photo tiles show the colour-normalised photo the segmenter saw."""
    by_id = {it.id: it for it in items}
    ranked = worst_rows(rows, kind, n)
    if not ranked:
        return None
    panels = []
    for r in ranked:
        it = by_id[r["id"]]
        rgb = read_rgb(it.image, reduce_to_long_side=work_long_side)  # as the evaluation read it
        gt = read_mask(it.mask)
        gt = gt[..., 0] if gt.ndim == 3 else gt
        seg = segment_photo(rgb, segmenter, work_long_side)
        norm, pred = seg.normalised, seg.classes
        if pred.shape != gt.shape:  # draw at the mask's resolution, as the metrics were computed
            h, w = gt.shape
            pred = cv2.resize(pred, (w, h), interpolation=cv2.INTER_NEAREST)
            norm = cv2.resize(norm, (w, h), interpolation=cv2.INTER_LINEAR)
        if kind == "skin":
            cap = f"{r['id']}  skin Dice {r['skin_dice']:.3f}  false depigmented px {r['depig_fp']}"
        else:
            cap = f"{r['id']}  Dice {r['depig_dice']:.3f}  missed px {r['depig_fn']}  false px {r['depig_fp']}"
        panels.append(error_panel(norm, pred, gt, kind, cap))
    width = max(p.shape[1] for p in panels)
    panels = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0))) for p in panels]
    return np.concatenate(panels, axis=0)
