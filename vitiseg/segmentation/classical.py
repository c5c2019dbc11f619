"""The training-free CIELAB baseline segmenter, kept for evaluation (``--model classical``).

Steps on a colour-normalised ``(H, W, 3) uint8`` sRGB photo:

1. Convert to CIELAB (OpenCV, D65; L* in [0, 100], a*, b* in about [-128, 127]).
2. *Pigmented skin seeds*: pixels whose hue angle h_ab lies in the skin range [15 deg, 80 deg] with chroma
   C*_ab >= 8 and 20 <= L* <= 95 (skin of every Fitzpatrick type falls in the red-yellow quadrant).
3. *Skin region*: seeds, morphologically closed, with enclosed holes filled (a white patch surrounded by skin is skin),
   keeping connected components larger than ``min_skin_fraction`` of the photo.
4. *Depigmented candidates* (lighter than the healthy reference, low in chroma, not blue/green: h_ab outside
   [100 deg, 300 deg]) join the skin region when at least half of their outline borders skin (30 % if the patch is at
   most twice the skin region) -- vitiligo at a skin border stays skin, while a white shirt or grey hair that
   merely touches skin does not.
5. *Healthy reference*: median L*, C* of the darker 60 % of skin pixels (robust to up to 40 % involvement).
6. *Depigmented*: skin pixels with L* >= L_ref + max(8, 2.5 * MAD_L) and C* <= C_ref + 2, smoothed by a 5 px median
   filter, specks below 0.02 % of the skin area removed.

The baseline fails on photos with skin-coloured backgrounds and on near-total depigmentation (no healthy reference);
the U-Net (:mod:`.unet`) is the default for that reason.
"""

from __future__ import annotations

import hashlib
import inspect

import cv2
import numpy as np
from scipy import ndimage

from ..colour import rgb_to_lab
from ..config import NormaliseConfig
from .base import DEPIGMENTED, SKIN


def _keep_large(mask: np.ndarray, min_px: int) -> np.ndarray:
    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = ndimage.sum_labels(mask, lab, index=np.arange(1, n + 1))
    keep = np.zeros(n + 1, dtype=bool)
    keep[1:] = sizes >= min_px
    return keep[lab]


def classical_segment(rgb: np.ndarray, min_skin_fraction: float = 0.01) -> np.ndarray:
    """Training-free CIELAB segmentation (see module docstring). ``(H, W, 3) uint8`` RGB -> ``(H, W) uint8``."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    lab = rgb_to_lab(rgb)
    L, a, b = lab[..., 0], lab[..., 1], lab[..., 2]
    C = np.hypot(a, b)
    hue = np.degrees(np.arctan2(b, a)) % 360.0
    seeds = (hue >= 15) & (hue <= 80) & (C >= 8) & (L >= 20) & (L <= 95)
    k = max(3, int(round(min(h, w) / 100)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    skin = cv2.morphologyEx(seeds.astype(np.uint8), cv2.MORPH_OPEN, kernel).astype(bool)
    skin = cv2.morphologyEx(skin.astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool)
    skin = _keep_large(skin, max(16, int(min_skin_fraction * h * w)))
    out = np.zeros((h, w), dtype=np.uint8)
    if not skin.any():
        return out

    ref_sel = skin & (L <= np.percentile(L[skin], 60))
    L_ref = float(np.median(L[ref_sel]))
    C_ref = float(np.median(C[ref_sel]))
    mad = float(np.median(np.abs(L[ref_sel] - L_ref))) * 1.4826
    dl = max(8.0, 2.5 * mad)
    not_bluegreen = (hue < 100) | (hue > 300) | (C < 4)
    candidate = (L >= L_ref + dl) & (C <= C_ref + 2) & (L <= 99) & not_bluegreen
    # candidate patches join the skin region when at least half of their outline borders pigmented skin, or 30 % for
    # patches at most twice the skin area (a patch inside or at the edge of skin does; a white shirt or grey hair
    # that merely touches skin does not)
    region = ndimage.binary_fill_holes(skin)
    cand = candidate & ~region
    lab_c, n = ndimage.label(cand, structure=np.ones((3, 3)))
    if n:
        ring_lab = ndimage.grey_dilation(lab_c, size=(3, 3)) * (~cand)
        ring_total = ndimage.sum_labels(np.ones_like(ring_lab), ring_lab, index=np.arange(1, n + 1))
        ring_skin = ndimage.sum_labels(region, ring_lab, index=np.arange(1, n + 1))
        area = ndimage.sum_labels(cand, lab_c, index=np.arange(1, n + 1))
        ratio = ring_skin / np.maximum(ring_total, 1)
        accept = np.zeros(n + 1, dtype=bool)
        accept[1:] = (ratio >= 0.5) | ((ratio >= 0.3) & (area <= 2 * region.sum()))
        region = ndimage.binary_fill_holes(region | accept[lab_c])
    depig = region & candidate
    depig = cv2.medianBlur(depig.astype(np.uint8) * 255, 5) > 0
    depig &= region
    depig = _keep_large(depig, max(4, int(2e-4 * region.sum())))
    out[region] = SKIN
    out[depig] = DEPIGMENTED
    return out


class ClassicalSegmenter:
    """The training-free CIELAB baseline behind the :class:`~.base.Segmenter` contract.

    ``colour_normalisation``: what photos get before :meth:`predict` (the run config's ``normalise`` section).
    """

    thread_safe = True  # photos may be measured in several threads at once (vitiseg.pipeline.threads)

    def __init__(self, min_skin_fraction: float = 0.01,
                 colour_normalisation: NormaliseConfig = NormaliseConfig()) -> None:
        self.min_skin_fraction = min_skin_fraction
        self.colour_normalisation = colour_normalisation
        src = inspect.getsource(classical_segment).encode()
        self.identity = {
            "name": "classical",
            "kind": "classical",
            "sha256": hashlib.sha256(src + repr(min_skin_fraction).encode()).hexdigest(),
            "params": {"min_skin_fraction": min_skin_fraction},
        }

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB, already colour-normalised -> ``(H, W) uint8`` classes {0, 1, 2}."""
        return classical_segment(rgb, self.min_skin_fraction)
