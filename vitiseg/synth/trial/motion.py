"""Camera motion between visits of a synthetic cohort (``vitiseg synth cohort --camera-motion S``): the follow-up photo
of a region is the baseline scene seen through a homography, so the true alignment of every pixel is known.

Convention: ``H`` (3x3 float64) maps a pixel of the baseline photo (x right, y down, pixel centres at integer
coordinates) to the same skin point in the follow-up photo; ``follow-up(p) = scene(H^-1 p)``, which is what
``cv2.warpPerspective(scene, H, (w, h))`` computes. The baseline photo is the scene itself (no motion).

Draw (strength ``S``; ``S = 1`` is a hand-held re-take of the same framing): the four image corners are rotated by
``U(-8, 8) * S`` degrees and scaled by ``exp(U(-1, 1) * 0.10 * S)`` about the image centre, shifted by
``U(-0.06, 0.06) * S`` of the width / height, and each corner is then moved independently by ``U(-0.04, 0.04) * S``
of the width / height (perspective: the camera axis tilts); ``H`` is the homography of the four corner pairs.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_ROTATION_DEG = 8.0
MAX_LOG_SCALE = 0.10
MAX_SHIFT = 0.06
MAX_CORNER = 0.04


def corners(w: int, h: int) -> np.ndarray:
    """The four image corners ``(4, 2) float32`` (x, y), clockwise from the top left."""
    return np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)


def sample_camera_motion(w: int, h: int, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A baseline -> follow-up homography ``(3, 3) float64`` for an image of ``w`` x ``h`` px (module docstring)."""
    s = float(strength)
    src = corners(w, h)
    ang = np.deg2rad(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG) * s)
    scale = float(np.exp(rng.uniform(-1.0, 1.0) * MAX_LOG_SCALE * s))
    centre = np.array([(w - 1) / 2, (h - 1) / 2], np.float64)
    rot = scale * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    shift = rng.uniform(-MAX_SHIFT, MAX_SHIFT, 2) * s * np.array([w, h])
    jitter = rng.uniform(-MAX_CORNER, MAX_CORNER, (4, 2)) * s * np.array([w, h])
    dst = (src - centre) @ rot.T + centre + shift + jitter
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32)).astype(np.float64)


def apply_homography(H: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Points ``(N, 2)`` (x, y) mapped by ``H`` ``(3, 3)``; returns ``(N, 2) float64``."""
    p = np.asarray(xy, np.float64).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(p, np.asarray(H, np.float64)).reshape(-1, 2)


def warp_layers(H: np.ndarray, rgb: np.ndarray, skin: np.ndarray, field: np.ndarray, islands: np.ndarray | None,
                area: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The scene's layers seen by the moved camera, with the conventions of the visit jitter of :mod:`.scene`:
    photo, skin, priority field and islands reflect at the frame edge (the stand-in scene continues), the facial area
    does not. ``rgb`` (H,W,3) uint8, ``skin`` / ``area`` (H,W) bool, ``field`` / ``islands`` (H,W) float32."""
    h, w = skin.shape

    def warp(a: np.ndarray, interp: int, border: int = cv2.BORDER_REFLECT_101) -> np.ndarray:
        return cv2.warpPerspective(a, H, (w, h), flags=interp, borderMode=border, borderValue=0)

    skin2 = warp(skin.astype(np.uint8), cv2.INTER_NEAREST) > 0
    field2 = np.where(skin2, warp(field, cv2.INTER_LINEAR), -1.0).astype(np.float32)
    isl2 = warp(islands, cv2.INTER_LINEAR) if islands is not None else None
    area2 = warp(area.astype(np.uint8), cv2.INTER_NEAREST, cv2.BORDER_CONSTANT) > 0 if area is not None else None
    return warp(rgb, cv2.INTER_LINEAR), skin2, field2, isl2, area2


def warp_mask(H: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """A scene-frame mask ``(H,W)`` bool seen by the moved camera (nearest neighbour, reflected like the skin)."""
    h, w = mask.shape
    return cv2.warpPerspective(mask.astype(np.uint8), H, (w, h), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_REFLECT_101) > 0


def visible_in(H: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(H,W)`` bool: the baseline pixels that the follow-up photo shows (``H p`` inside its frame)."""
    h, w = shape
    ones = np.ones((h, w), np.uint8)
    return cv2.warpPerspective(ones, H, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
