"""Colour: sRGB transfer functions, CIELAB, the individual typology angle (ITA) and colour normalisation.

One implementation of each, used by every stage:

- :func:`srgb_to_linear` / :func:`linear_to_srgb`: the sRGB transfer functions (IEC 61966-2-1).
- :func:`rgb_to_lab` / :func:`lab_to_rgb` / :func:`linear_to_lab`: CIELAB (D65, OpenCV's float32 conversion; L* in [0, 100], a*, b* in about
  [-128, 127]).
- :func:`ita_degrees` / :func:`skin_ita`: ITA = atan2(L* - 50, b*) in degrees (Chardon et al. 1991; equal to
  atan((L* - 50) / b*) for skin, whose b* is positive), of the median L*, b* of a set of pixels.
- :func:`normalise`: removes the colour cast of the illuminant before segmentation (stage 1 of the pipeline).

Normalisation methods (run config ``normalise.method``, model ``config.json`` ``colour_normalisation``):

- ``shades_of_grey`` (default): Finlayson & Trezzi, "Shades of Gray and Colour Constancy", CIC 2004. The illuminant
  colour is estimated per channel as the Minkowski p-norm mean of *linear* RGB (p = 6 by default, between grey-world
  p = 1 and max-RGB p = inf), and each channel is scaled (von Kries) so that the estimate becomes neutral while the
  mean intensity is kept. Near-saturated pixels (any channel >= 250) are left out of the estimate.
  Barata C et al. (IEEE JBHI 2015) showed it improves dermoscopy classification across devices.
- ``grey_world``: the same with p = 1 (Buchsbaum 1980).
- ``none``: the photo is passed through unchanged.

sRGB <-> linear conversion uses the IEC 61966-2-1 piecewise formula through 256-entry tables; the tests hold it equal to
colour-science's ``cctf_decoding`` / ``cctf_encoding`` (1e-12). colour-science is not imported here: ``import colour``
loads matplotlib (about 1 s of CPU), which would delay every run's first photo.
Input and output: ``(H, W, 3) uint8`` sRGB.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from .config import NormaliseConfig


def _decode(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding (EOTF) of values in [0, 1], float64."""
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _encode(x: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB encoding (inverse EOTF) of linear values in [0, 1], float64."""
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


@lru_cache(maxsize=1)
def _decode_lut() -> np.ndarray:
    """sRGB uint8 code value -> linear [0, 1] (float64, 256 entries)."""
    return _decode(np.arange(256) / 255.0)


@lru_cache(maxsize=1)
def _encode_grid() -> tuple[np.ndarray, np.ndarray]:
    """Dense table of linear values and their sRGB encodings, for fast vectorised encoding by interpolation."""
    lin = np.linspace(0.0, 1.0, 4097)
    return lin, _encode(lin)


def srgb_to_linear(u8: np.ndarray) -> np.ndarray:
    """sRGB ``uint8`` codes (any shape) -> linear light, ``float32`` in [0, 1] (exact table lookup)."""
    return _decode_lut().astype(np.float32)[u8]


def linear_to_srgb(lin: np.ndarray) -> np.ndarray:
    """Linear light (any shape, float; clipped to [0, 1]) -> sRGB ``uint8`` codes (halves round up)."""
    x = np.clip(np.asarray(lin, dtype=np.float64), 0.0, 1.0)
    y = _encode(x)
    return np.clip(y * 255.0 + 0.5, 0, 255).astype(np.uint8)


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """``(..., 3) uint8`` sRGB -> ``(..., 3) float32`` CIELAB (D65): L* in [0, 100], a*, b* in about [-128, 127]."""
    a = np.ascontiguousarray(rgb, dtype=np.float32) / 255.0
    flat = a.reshape(-1, 1, 3)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2Lab).reshape(a.shape)


def linear_to_lab(lin: np.ndarray) -> np.ndarray:
    """``(..., 3) float`` linear sRGB (not clipped; 1 = diffuse white) -> ``(..., 3) float32`` CIELAB (D65), the same
    conversion as :func:`rgb_to_lab` without 8-bit quantisation (colour charts, measured patch means)."""
    a = np.ascontiguousarray(lin, dtype=np.float32)
    return cv2.cvtColor(np.clip(a, 0.0, 1.0).reshape(-1, 1, 3), cv2.COLOR_LRGB2Lab).reshape(a.shape)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """``(..., 3) float`` CIELAB (D65) -> ``(..., 3) uint8`` sRGB (out-of-gamut colours clipped, rounded)."""
    a = np.ascontiguousarray(lab, dtype=np.float32)
    out = cv2.cvtColor(a.reshape(-1, 1, 3), cv2.COLOR_Lab2RGB).reshape(a.shape)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def ita_degrees(L: float, b: float) -> float:
    """Individual typology angle in degrees, ``atan2(L* - 50, b*)``: > 55 very light ... < -30 dark skin."""
    return math.degrees(math.atan2(L - 50.0, b))


def skin_ita(rgb: np.ndarray, mask: np.ndarray, min_px: int = 1) -> float:
    """ITA (degrees) of the median L* and median b* of the ``mask`` pixels of ``rgb``.

    ``rgb``: ``(H, W, 3) uint8`` sRGB; ``mask``: ``(H, W) bool``. NaN when fewer than ``min_px`` pixels are selected.
    """
    px = rgb[mask]
    if len(px) < max(1, min_px):
        return float("nan")
    lab = rgb_to_lab(px)
    return ita_degrees(float(np.median(lab[:, 0])), float(np.median(lab[:, 2])))


def estimate_illuminant(rgb: np.ndarray, p: float, mask: np.ndarray | None = None) -> np.ndarray:
    """Illuminant estimate in linear RGB, shape ``(3,)`` float64, normalised to unit mean.

    ``rgb``: ``(H, W, 3) uint8`` sRGB. ``mask``: optional ``(H, W) bool`` of pixels to use.
    Falls back to all pixels when fewer than 64 usable pixels remain; a black image returns ``[1, 1, 1]``.
    The Minkowski mean is computed exactly from per-channel histograms of the 8-bit codes.
    """
    rgb = np.ascontiguousarray(rgb)
    usable = cv2.inRange(rgb, (0, 0, 0), (249, 249, 249))  # uint8 0/255: no channel near saturation
    if mask is not None:
        usable[~mask] = 0
    if cv2.countNonZero(usable) < 64:
        usable = None
    lut_p = np.power(_decode_lut(), p)
    e = np.empty(3)
    for c in range(3):
        hist = cv2.calcHist([rgb], [c], usable, [256], [0, 256]).ravel().astype(np.float64)
        e[c] = (hist @ lut_p / hist.sum()) ** (1.0 / p)
    if not np.all(e > 1e-9):
        return np.ones(3)
    return e / e.mean()


def gain_luts(gains: np.ndarray) -> np.ndarray:
    """Per-channel 256-entry tables ``(256, 3) uint8``: sRGB code -> linear x gain (clipped) -> sRGB code."""
    lin = _decode_lut()[:, None] * np.asarray(gains, dtype=np.float64)[None, :]
    grid, enc = _encode_grid()
    out = np.interp(np.clip(lin, 0.0, 1.0), grid, enc)
    return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)


def apply_gains(rgb: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Scale linear RGB channels by ``gains`` (shape ``(3,)``) and re-encode to ``(H, W, 3) uint8`` sRGB.

    Because the gains are per channel, each output code depends only on the input code of that channel, so the
    mapping is applied as three 256-entry lookup tables (exact, and fast on 12-MP photos)."""
    lut = gain_luts(gains)
    return cv2.merge([cv2.LUT(np.ascontiguousarray(rgb[:, :, c]), lut[:, c]) for c in range(3)])


def normalise(rgb: np.ndarray, cfg: NormaliseConfig, mask: np.ndarray | None = None) -> np.ndarray:
    """Colour-normalise a photo. ``(H, W, 3) uint8`` sRGB in, same shape/dtype out; deterministic.

    ``mask``: optional ``(H, W) bool`` of the pixels the illuminant is estimated from (a colour chart or a scale
    marker in the photo is left out, so it does not pull the estimate); the gains apply to every pixel."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    if cfg.method == "none":
        return rgb
    p = 1.0 if cfg.method == "grey_world" else cfg.minkowski_p
    e = estimate_illuminant(rgb, p, mask)
    return apply_gains(rgb, 1.0 / e)
