"""Per-patch tracking: the baseline's depigmented patches, each followed through the change maps of later visits.

**Patches.** The 8-connected components of the baseline's depigmented skin (faces: within the baseline's facial
area) with at least ``min_patch_px`` px *and* ``min_patch_skin_pct`` % of the skin; numbered 1, 2, ... by decreasing
area (ties: top to bottom, then left to right).

**Share repigmented** at a visit = repigmented px / compared px of the patch (change-map codes 3 / 2-3);
``visible_share`` = compared px / patch px (a patch the follow-up shows less than half of is ``not visible``).

**Pattern** (geometric rule: *is the new skin nearer the patch border than the skin that stays depigmented?*).
The patch's *border* is its outer outline (holes filled: pigment islands inside the patch at baseline are not
border); the depth of a patch pixel is its distance to the outside of the filled patch minus ``edge_tolerance_px``,
floored at 0 (a pixel or two of misalignment makes a thin rim of change: within it, all depths tie). Of the
patch's compared pixels, R are repigmented (components smaller than ``min_island_px`` dropped as noise) and S still
depigmented. ``border_auc`` = P(depth of a random R pixel < depth of a random S pixel), ties counted half (the
Mann-Whitney statistic): near 1 when the border advances inwards, 0.5 or less when new skin appears around
follicles inside the patch and its outline stays depigmented.

* ``none``: beyond the tolerance rim, R < ``min_repigmented_share`` of R + S (new skin only in the rim can be
  misalignment); ``complete``: S < ``min_remaining_share`` of R + S (too little left to tell how it went);
* ``marginal``: ``border_auc >= marginal_auc``; ``perifollicular``: ``border_auc <= perifollicular_auc``; ``mixed``
  between.

The two thresholds were set on a calibration cohort and measured on another (``research/2026-12-01-tracking``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage, stats

from ..config import TrackingConfig
from .changes import NOT_COMPARED, REPIGMENTED

EIGHT = np.ones((3, 3), bool)
PATCH_PATTERNS = ("none", "marginal", "perifollicular", "mixed", "complete", "not visible")
MIN_VISIBLE = 0.5  # a patch the follow-up shows less of is not classified


@dataclass(frozen=True)
class Patch:
    """One baseline patch: ``patch_id`` (1 = largest), area in px and in % of the skin, centroid (x, y) and bounding
    box ``(x0, y0, x1, y1)`` (exclusive ends) in baseline pixels."""

    patch_id: int
    area_px: int
    pct_of_skin: float
    centroid: tuple[float, float]
    bbox: tuple[int, int, int, int]


def baseline_patches(classes: np.ndarray, domain: np.ndarray, cfg: TrackingConfig) -> tuple[np.ndarray, list[Patch]]:
    """``(labels, patches)``: the patches of a baseline class mask ``(H,W) uint8`` within ``domain`` ``(H,W) bool``;
    ``labels`` (H,W) int32 holds each pixel's ``patch_id`` (0: no patch)."""
    dep = (classes == 2) & domain
    skin_px = int(((classes > 0) & domain).sum())
    lab, n = ndimage.label(dep, structure=EIGHT)
    if n == 0:
        return np.zeros(classes.shape, np.int32), []
    area = np.bincount(lab.ravel(), minlength=n + 1)
    need = max(cfg.min_patch_px, cfg.min_patch_skin_pct / 100.0 * skin_px)
    keep = [k for k in range(1, n + 1) if area[k] >= need]
    com = ndimage.center_of_mass(dep, lab, keep) if keep else []
    order = sorted(range(len(keep)), key=lambda i: (-area[keep[i]], com[i][0], com[i][1]))
    out = np.zeros(classes.shape, np.int32)
    slices = ndimage.find_objects(lab)
    patches = []
    for new_id, i in enumerate(order, start=1):
        k = keep[i]
        sl = slices[k - 1]
        out[sl][lab[sl] == k] = new_id
        patches.append(Patch(new_id, int(area[k]), 100.0 * area[k] / max(skin_px, 1),
                             (float(com[i][1]), float(com[i][0])),
                             (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)))
    return out, patches


def border_distance(patch: np.ndarray) -> np.ndarray:
    """(h,w) float64 distance (px) of each pixel of the filled ``patch`` (h,w) bool to its outside (0 outside).

    Exact Euclidean distances (SciPy): OpenCV's multi-threaded transform can differ in the last bits between
    processes, which would reorder ties in the pattern rule."""
    filled = ndimage.binary_fill_holes(patch)
    return ndimage.distance_transform_edt(np.pad(filled, 1))[1:-1, 1:-1]


def classify(patch: np.ndarray, compared: np.ndarray, repigmented: np.ndarray, cfg: TrackingConfig
             ) -> dict[str, Any]:
    """Pattern of one patch at one visit (module docstring). All inputs (h,w) bool crops of the same box; returns
    ``border_auc`` (NaN when R or S is empty) and ``pattern``."""
    depth = np.maximum(border_distance(patch) - cfg.edge_tolerance_px, 0.0)
    seen = patch & compared
    lab, n = ndimage.label(repigmented & seen, structure=EIGHT)
    size = np.bincount(lab.ravel(), minlength=n + 1)
    size[0] = 0
    rep = (size >= cfg.min_island_px)[lab]
    stay = seen & ~repigmented
    n_r, n_s = int(rep.sum()), int(stay.sum())
    auc = float("nan")
    if n_r and n_s:
        u = stats.mannwhitneyu(depth[rep], depth[stay], alternative="two-sided", method="asymptotic").statistic
        auc = 1.0 - float(u) / (n_r * n_s)
    total = n_r + n_s
    deep = depth > 0  # new skin only within the tolerance rim is not evidence of repigmentation
    if total == 0 or int((rep & deep).sum()) < cfg.min_repigmented_share * int(((rep | stay) & deep).sum()):
        pattern = "none"
    elif n_s < cfg.min_remaining_share * total:
        pattern = "complete"
    elif auc >= cfg.marginal_auc:
        pattern = "marginal"
    elif auc <= cfg.perifollicular_auc:
        pattern = "perifollicular"
    else:
        pattern = "mixed"
    return {"border_auc": auc, "pattern": pattern}


def patch_changes(labels: np.ndarray, patches: list[Patch], codes: np.ndarray, cfg: TrackingConfig
                  ) -> list[dict[str, Any]]:
    """One row per patch for a follow-up's change map ``codes`` (H,W) uint8 in the baseline frame: visible share,
    share repigmented and pattern (module docstring)."""
    rows = []
    for p in patches:
        x0, y0, x1, y1 = p.bbox
        y0p, x0p = max(0, y0 - 1), max(0, x0 - 1)
        y1p, x1p = min(labels.shape[0], y1 + 1), min(labels.shape[1], x1 + 1)
        patch = labels[y0p:y1p, x0p:x1p] == p.patch_id
        c = codes[y0p:y1p, x0p:x1p]
        compared = patch & (c != NOT_COMPARED)
        rep = patch & (c == REPIGMENTED)
        n_cmp = int(compared.sum())
        visible = n_cmp / p.area_px
        row: dict[str, Any] = {"visible_share": visible, "compared_px": n_cmp, "repigmented_px": int(rep.sum()),
                               "repigmented_share": int(rep.sum()) / n_cmp if n_cmp else float("nan")}
        if visible >= MIN_VISIBLE:
            row.update(classify(patch, compared, rep, cfg))
        else:
            row.update(border_auc=float("nan"), pattern="not visible")
        rows.append(row)
    return rows
