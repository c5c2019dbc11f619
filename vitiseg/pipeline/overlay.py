"""The overlay a person checks: depigmented skin tinted magenta with its outline, non-skin dimmed, facial area in cyan."""

from __future__ import annotations

import cv2
import numpy as np

from ..io.images import resize_long_side

DEPIG_RGB = np.array([255, 0, 255], dtype=np.float32)
FACE_RGB = (0, 255, 255)


def make_overlay(rgb: np.ndarray, classes: np.ndarray, face_mask: np.ndarray | None, long_side: int) -> np.ndarray:
    """Overlay of one photo.

    ``rgb`` ``(H, W, 3) uint8`` sRGB (the photo as taken, not normalised), ``classes`` ``(H, W) uint8`` in {0, 1, 2},
    ``face_mask`` ``(H, W) bool`` or None; output is ``(h, w, 3) uint8`` sRGB with long side <= ``long_side``.
    """
    img = resize_long_side(rgb, long_side)
    h, w = img.shape[:2]
    cls = cv2.resize(classes, (w, h), interpolation=cv2.INTER_NEAREST)
    out = img.astype(np.float32)
    out[cls == 0] *= 0.55
    dep = cls == 2
    out[dep] = 0.55 * out[dep] + 0.45 * DEPIG_RGB
    out = np.clip(out, 0, 255).astype(np.uint8)
    thick = max(1, round(max(h, w) / 600))
    contours, _ = cv2.findContours(dep.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 0, 255), thick)
    if face_mask is not None:
        fm = cv2.resize(face_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(fm, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)  # eye and lip holes too
        cv2.drawContours(out, contours, -1, FACE_RGB, thick + 1)
    return out
