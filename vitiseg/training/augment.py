"""Training augmentation on the CPU: random scale, crop, flips, 90-degree rotations and photometric jitter.

Applied to colour-normalised ``(H, W, 3) uint8`` sRGB photos and their ``(H, W) uint8`` bit-mask targets
(:mod:`.data`); padding is labelled unknown. :mod:`.device_batches` does the same on the training device.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from ..config import StrictModel
from .data import UNKNOWN


def resize_pair(rgb: np.ndarray, target: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize image (area/bilinear) and target (nearest) so that the long side equals ``long_side``."""
    H, W = rgb.shape[:2]
    s = long_side / max(H, W)
    h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
    if (h, w) == (H, W):
        return rgb, target
    img = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    tgt = cv2.resize(target, (w, h), interpolation=cv2.INTER_NEAREST)
    return img, tgt


class AugmentConfig(StrictModel):
    """Training augmentation (applied after colour normalisation)."""

    scale_range: tuple[float, float] = (0.7, 1.3)
    hflip: bool = True
    vflip: bool = True
    rot90: bool = True
    brightness: float = Field(0.15, ge=0.0, le=1.0)
    contrast: float = Field(0.15, ge=0.0, le=1.0)
    saturation: float = Field(0.15, ge=0.0, le=1.0)
    hue_deg: float = Field(4.0, ge=0.0, le=45.0)
    blur_prob: float = Field(0.15, ge=0.0, le=1.0)


def augment_crop(
    rgb: np.ndarray,
    target: np.ndarray,
    rng: np.random.Generator,
    long_side: int,
    crop: int,
    aug: AugmentConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Random scale (long side = ``long_side`` x U(scale_range)), crop ``crop x crop`` (padding is labelled unknown),
    flips / 90-degree rotations and photometric jitter. Returns ``(crop, crop, 3) uint8`` and ``(crop, crop) uint8``.
    """
    s = rng.uniform(*aug.scale_range)
    img, tgt = resize_pair(rgb, target, max(8, int(round(long_side * s))))
    h, w = tgt.shape
    ph, pw = max(0, crop - h), max(0, crop - w)
    if ph or pw:
        img = cv2.copyMakeBorder(img, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_REFLECT_101)
        tgt = cv2.copyMakeBorder(
            tgt, ph // 2, ph - ph // 2, pw // 2, pw - pw // 2, cv2.BORDER_CONSTANT, value=UNKNOWN
        )
        h, w = tgt.shape
    y = int(rng.integers(0, h - crop + 1))
    x = int(rng.integers(0, w - crop + 1))
    img = img[y : y + crop, x : x + crop]
    tgt = tgt[y : y + crop, x : x + crop]
    if aug.hflip and rng.random() < 0.5:
        img, tgt = img[:, ::-1], tgt[:, ::-1]
    if aug.vflip and rng.random() < 0.5:
        img, tgt = img[::-1], tgt[::-1]
    if aug.rot90:
        k = int(rng.integers(0, 4))
        img, tgt = np.rot90(img, k), np.rot90(tgt, k)
    img = np.ascontiguousarray(img)
    tgt = np.ascontiguousarray(tgt)
    # photometric jitter in HSV (OpenCV: H in [0, 180), S, V in [0, 255] for uint8 -> float here)
    f = img.astype(np.float32)
    if aug.brightness or aug.contrast:
        b = 1.0 + rng.uniform(-aug.brightness, aug.brightness)
        c = 1.0 + rng.uniform(-aug.contrast, aug.contrast)
        mean = f.mean()
        f = (f - mean) * c + mean * b
    if aug.saturation or aug.hue_deg:
        hsv = cv2.cvtColor(np.clip(f, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 1] *= 1.0 + rng.uniform(-aug.saturation, aug.saturation)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-aug.hue_deg, aug.hue_deg) / 2.0) % 180.0
        f = cv2.cvtColor(np.clip(hsv, 0, [179, 255, 255]).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    if rng.random() < aug.blur_prob:
        f = cv2.GaussianBlur(f, (0, 0), sigmaX=float(rng.uniform(0.5, 1.5)))
    return np.clip(np.round(f), 0, 255).astype(np.uint8), tgt
