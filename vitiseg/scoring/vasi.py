"""VASI scoring: depigmented fractions -> VASI levels, F-VASI and T-VASI.

Definitions (Hamzavi et al., Arch Dermatol 2004; TRuE-V trials, Rosmarin et al., NEJM 2022):

- A region's depigmented fraction is pooled over all its photos of a visit:
  ``sum(depigmented px) / sum(skin px)``; a region without a usable photo is *not assessed*.
- Region VASI = hand units x fraction (1 hand unit ~= 1 % BSA; hand units in ``vitiseg/defaults/regions.yaml``).
- F-VASI = face hand units (3) x facial fraction, range 0-3; undefined (NaN) when the face was not assessed.
- T-VASI = sum of region VASI over the assessed regions, range 0-100. If any region was not assessed the value is
  flagged *partial* (a lower bound) and the missing regions are listed: never a silent zero. With no region
  assessed at all (no photo, or every photo failed) T-VASI is undefined (NaN).
- Each photo's VASI level is its fraction snapped to the nearest of the clinicians' levels
  0, 10, 25, 50, 75, 90, 100 % (ties go to the lower level).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ..config import RegionsConfig

VASI_LEVELS: tuple[int, ...] = (0, 10, 25, 50, 75, 90, 100)


def mask_counts(classes: np.ndarray, area: np.ndarray | None = None) -> tuple[int, int]:
    """(skin px, depigmented px) of a ``(H, W) uint8`` class mask, optionally within a ``(H, W) bool`` area."""
    skin = classes > 0
    depig = classes == 2
    if area is not None:
        skin = skin & area
        depig = depig & area
    return int(skin.sum()), int(depig.sum())


def fraction(skin_px: int, depigmented_px: int) -> float:
    """Depigmented fraction in [0, 1]; NaN when there is no skin (nothing to measure)."""
    if depigmented_px < 0 or skin_px < 0 or depigmented_px > skin_px:
        raise ValueError(f"invalid counts: skin {skin_px}, depigmented {depigmented_px}")
    return float("nan") if skin_px == 0 else depigmented_px / skin_px


def vasi_level(frac: float) -> int | None:
    """Snap a fraction in [0, 1] to the nearest VASI level in percent (ties to the lower level); None for NaN."""
    if frac is None or math.isnan(frac):
        return None
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"fraction out of [0, 1]: {frac}")
    pct = 100.0 * frac
    return min(VASI_LEVELS, key=lambda lv: (abs(lv - pct), lv))


@dataclass(frozen=True)
class VisitScore:
    """Scores of one visit. ``f_vasi`` is NaN when the face was not assessed."""

    f_vasi: float
    t_vasi: float
    t_vasi_partial: bool
    missing_regions: tuple[str, ...]
    region_vasi: Mapping[str, float]  # assessed regions only: hand units x fraction


def score_visit(region_fractions: Mapping[str, float], regions: RegionsConfig) -> VisitScore:
    """F-VASI and T-VASI of one visit from its per-region fractions (regions absent or NaN = not assessed)."""
    unknown = set(region_fractions) - set(regions.regions)
    if unknown:
        raise KeyError(f"unknown region(s) {sorted(unknown)}")
    region_vasi: dict[str, float] = {}
    missing: list[str] = []
    for name, spec in regions.regions.items():
        f = region_fractions.get(name, float("nan"))
        if f is None or math.isnan(f):
            missing.append(name)
            continue
        if not 0.0 <= f <= 1.0:
            raise ValueError(f"fraction of {name} out of [0, 1]: {f}")
        region_vasi[name] = spec.hand_units * f
    f_vasi = region_vasi.get("face", float("nan"))
    # no region assessed (no photo, or every photo failed): T-VASI is unknown, not 0
    t_vasi = float(sum(region_vasi[r] for r in regions.regions if r in region_vasi)) if region_vasi else float("nan")
    return VisitScore(f_vasi, t_vasi, bool(missing), tuple(missing), region_vasi)
