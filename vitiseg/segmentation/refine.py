"""Per-photo colour refinement of U-Net probabilities (after the network, before decoding).

Within one photo, depigmented skin has a consistent colour (lighter, less saturated than the patient's own healthy
skin), but the network, which sees 384 px of context, may under-call: it can miss whole lesions and lesion
interiors. The refinement learns the photo's own two skin colours from the pixels the
network is sure about and moves the undecided and missed pixels by how well their colour fits each:

1. ``u = P(depig) / (P(skin) + P(depig))`` on skin pixels (``P(bg) <= P(skin) + P(depig)``).
2. Seeds: skin pixels with ``u > seed_high`` (depigmented) and ``u < seed_low`` (healthy), each eroded by
   ``erode_px`` (3x3) so borders and blur do not enter the colour models.
3. Gate: refine only if the depigmented seeds cover at least ``min_seed_share`` of the skin pixels and both seed
   sets have ``min_seed_px`` pixels; otherwise the probabilities are returned unchanged. A photo the network calls
   (almost) lesion-free is never refined, so the refinement cannot add false alarms to lesion-free photos unless the
   network already has >= ``min_seed_share`` confident false positives there.
4. Colour models: one full-covariance Gaussian per seed set in CIELAB (:func:`vitiseg.colour.rgb_to_lab`),
   covariance plus ``covariance_reg`` * identity (L*a*b* units squared) against degenerate seed sets
   (:func:`scipy.stats.multivariate_normal`).
5. Update in log-odds: ``logit(u') = logit(u) + weight * clip(log N(x | depig) - log N(x | healthy), -30, 30)``;
   ``P'(skin) = s (1 - u')``, ``P'(depig) = s u'`` with ``s = P(skin) + P(depig)``, so ``P(bg)``, the skin/background
   decision and every background pixel are untouched.

Optional: a model folder opts in with a ``refinement`` block in its ``config.json`` (none of the shipped models does;
the measurement behind that is in ``research/2026-11-30-colour-refinement/``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, ValidationError
from scipy import ndimage as ndi

from ..colour import rgb_to_lab
from ..config import ConfigError, StrictModel, format_validation_error, read_yaml

LLR_CLIP = 30.0
_EPS = 1e-6


class RefineConfig(StrictModel):
    """Settings of :func:`refine_probs` (the ``refinement`` block of a model's ``config.json``).

    ``seed_low < 0.5 < seed_high`` by the field bounds, so the two seed sets never overlap.
    """

    method: Literal["colour_gaussian"] = "colour_gaussian"
    weight: float = Field(2.0, gt=0.0, le=10.0)
    seed_high: float = Field(0.8, gt=0.5, lt=1.0)
    seed_low: float = Field(0.2, gt=0.0, lt=0.5)
    min_seed_share: float = Field(0.03, ge=0.0, le=1.0)
    min_seed_px: int = Field(30, ge=3)
    erode_px: int = Field(1, ge=0, le=10)
    covariance_reg: float = Field(1.0, gt=0.0)


def load_refine_config(path: str | Path) -> RefineConfig:
    """Read a refinement YAML (e.g. ``research/2026-11-30-colour-refinement/refine_colour.yaml``); raises :class:`ConfigError` naming the file
    and any unknown or invalid key."""
    p = Path(path)
    try:
        return RefineConfig.model_validate(read_yaml(p))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p), "vitiseg.segmentation.refine.RefineConfig")) from None


@dataclass(frozen=True)
class RefineInfo:
    """What :func:`refine_probs` did: ``applied`` False means the input was returned unchanged."""

    applied: bool
    depig_seed_px: int
    healthy_seed_px: int
    skin_px: int


def _gaussian(samples: np.ndarray, reg: float):  # -> scipy.stats.multivariate_normal
    cov = np.cov(samples, rowvar=False) + reg * np.eye(samples.shape[1])
    from scipy.stats import multivariate_normal  # 0.5 s of start-up, only for models with a refinement

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
    lab = rgb_to_lab(rgb).astype(np.float64)
    x = lab[skin]
    llr = _gaussian(lab[depig_seed], cfg.covariance_reg).logpdf(x) - _gaussian(
        lab[healthy_seed], cfg.covariance_reg).logpdf(x)
    us = np.clip(u[skin].astype(np.float64), _EPS, 1 - _EPS)
    z = np.log(us) - np.log1p(-us) + cfg.weight * np.clip(llr, -LLR_CLIP, LLR_CLIP)
    u_new = (1.0 / (1.0 + np.exp(-z))).astype(np.float32)
    p[1][skin] = s[skin] * (1 - u_new)
    p[2][skin] = s[skin] * u_new
    return p, RefineInfo(True, n_dep, n_hea, n_skin)
