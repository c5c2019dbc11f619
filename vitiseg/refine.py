"""Per-photo colour refinement of U-Net probabilities (stage 2b, after the network, before decoding).

Within one photo, depigmented skin has a consistent colour (lighter, less saturated than the patient's own healthy
skin), but the network, which sees 384 px of context, under-calls: it misses whole lesions and lesion interiors
(model card, "Where the errors are"). The refinement learns the photo's own two skin colours from the pixels the
network is sure about and moves the undecided and missed pixels by how well their colour fits each:

1. ``u = P(depig) / (P(skin) + P(depig))`` on skin pixels (``P(bg) <= P(skin) + P(depig)``).
2. Seeds: skin pixels with ``u > seed_high`` (depigmented) and ``u < seed_low`` (healthy), each eroded by
   ``erode_px`` (3x3) so borders and blur do not enter the colour models.
3. Gate: refine only if the depigmented seeds cover at least ``min_seed_share`` of the skin pixels and both seed
   sets have ``min_seed_px`` pixels; otherwise the probabilities are returned unchanged. A photo the network calls
   (almost) lesion-free is never refined, so the refinement cannot add false alarms to lesion-free photos unless the
   network already has >= ``min_seed_share`` confident false positives there.
4. Colour models: one full-covariance Gaussian per seed set in CIELAB (OpenCV float32 conversion, D65; L* 0-100),
   covariance plus ``covariance_reg`` * identity (L*a*b* units squared) against degenerate seed sets
   (:func:`scipy.stats.multivariate_normal`).
5. Update in log-odds: ``logit(u') = logit(u) + weight * clip(log N(x | depig) - log N(x | healthy), -30, 30)``;
   ``P'(skin) = s (1 - u')``, ``P'(depig) = s u'`` with ``s = P(skin) + P(depig)``, so ``P(bg)``, the skin/background
   decision and every background pixel are untouched.

Settings chosen on validation data only (every second photo of the synthetic val split, the real polygon val split
and the lesion-free skin val photos). **Not used by the shipped model**: on held-out data it raised Dice (synthetic
test 0.846 -> 0.849, real val 0.701 -> 0.728) and lowered the F-VASI error, but it grows the false alarms the network
already has on large lesion-free regions, and the T-VASI error of the README cohort rose from 0.77 to 0.95 (model
card, "Experiments not adopted"). An artifact opts in with a ``refinement`` block in its ``config.json``
(``scripts/set_refinement.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from scipy import ndimage as ndi
from scipy.stats import multivariate_normal

from .config import ConfigError, _format_error, _read_yaml

LLR_CLIP = 30.0
_EPS = 1e-6


class RefineConfig(BaseModel):
    """Settings of :func:`refine_probs` (the ``refinement`` block of a model's ``config.json``).

    ``seed_low < 0.5 < seed_high`` by the field bounds, so the two seed sets never overlap.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: Literal["colour_gaussian"] = "colour_gaussian"
    weight: float = Field(2.0, gt=0.0, le=10.0)
    seed_high: float = Field(0.8, gt=0.5, lt=1.0)
    seed_low: float = Field(0.2, gt=0.0, lt=0.5)
    min_seed_share: float = Field(0.03, ge=0.0, le=1.0)
    min_seed_px: int = Field(30, ge=3)
    erode_px: int = Field(1, ge=0, le=10)
    covariance_reg: float = Field(1.0, gt=0.0)


def load_refine_config(path: str | Path) -> RefineConfig:
    """Read a refinement YAML (e.g. ``configs/refine_colour.yaml``); raises :class:`ConfigError` naming the file
    and any unknown or invalid key."""
    p = Path(path)
    try:
        return RefineConfig.model_validate(_read_yaml(p))
    except ValidationError as exc:
        raise ConfigError(_format_error(exc, str(p)).replace("configs/default.yaml", "vitiseg.refine.RefineConfig"))


@dataclass(frozen=True)
class RefineInfo:
    """What :func:`refine_probs` did: ``applied`` False means the input was returned unchanged."""

    applied: bool
    depig_seed_px: int
    healthy_seed_px: int
    skin_px: int


def lab_of(rgb: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` sRGB -> ``(h, w, 3) float32`` CIELAB (OpenCV, D65; L* 0-100, a*/b* about -128..127)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _gaussian(samples: np.ndarray, reg: float) -> multivariate_normal:
    cov = np.cov(samples, rowvar=False) + reg * np.eye(samples.shape[1])
    return multivariate_normal(mean=samples.mean(axis=0), cov=cov)


def refine_probs(rgb: np.ndarray, probs: np.ndarray, cfg: RefineConfig) -> tuple[np.ndarray, RefineInfo]:
    """Refine the depigmented share of skin pixels by the photo's own colour models (module doc).

    Args:
        rgb: ``(h, w, 3) uint8`` colour-normalised sRGB at the network's working size.
        probs: ``(3, h, w)`` float softmax probabilities (background, skin, depigmented) of the same size.
        cfg: refinement settings.

    Returns:
        ``((3, h, w) float32 probabilities, info)``; the per-pixel sums are kept (to float32 rounding); ``probs[0]`` and every
        background pixel are unchanged.
        When the gate (module doc, step 3) fails, the float32 copy of the input is returned.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (h, w, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if probs.shape != (3, *rgb.shape[:2]):
        raise ValueError(f"probabilities {probs.shape} do not match image {rgb.shape[:2]}")
    p = probs.astype(np.float32, copy=True)
    s = p[1] + p[2]
    skin = p[0] <= s
    u = p[2] / np.maximum(s, _EPS)
    depig_seed = skin & (u > cfg.seed_high)
    healthy_seed = skin & (u < cfg.seed_low)
    if cfg.erode_px:
        st = np.ones((3, 3), bool)
        depig_seed = ndi.binary_erosion(depig_seed, st, iterations=cfg.erode_px)
        healthy_seed = ndi.binary_erosion(healthy_seed, st, iterations=cfg.erode_px)
    n_skin, n_dep, n_hea = int(skin.sum()), int(depig_seed.sum()), int(healthy_seed.sum())
    info = RefineInfo(False, n_dep, n_hea, n_skin)
    if n_dep < max(cfg.min_seed_px, cfg.min_seed_share * n_skin) or n_hea < cfg.min_seed_px:
        return p, info
    lab = lab_of(rgb).astype(np.float64)
    x = lab[skin]
    llr = _gaussian(lab[depig_seed], cfg.covariance_reg).logpdf(x) - _gaussian(
        lab[healthy_seed], cfg.covariance_reg).logpdf(x)
    us = np.clip(u[skin].astype(np.float64), _EPS, 1 - _EPS)
    z = np.log(us) - np.log1p(-us) + cfg.weight * np.clip(llr, -LLR_CLIP, LLR_CLIP)
    u_new = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    p[1][skin] = s[skin] * (1 - u_new)
    p[2][skin] = s[skin] * u_new
    return p, RefineInfo(True, n_dep, n_hea, n_skin)
