"""Calibration targets drawn into synthetic photos with exact truth: a ColorChecker card (reference colours), square
fiducial markers of known size and pose, and the camera's colour cast.

Everything is ``(H, W, 3) uint8`` sRGB in and out. A target is drawn on its own pixel grid and mapped into the scene by
a homography (:func:`pose_homography`: in-plane rotation, tilt of the target's plane, pinhole perspective), blended
with its exact coverage so edges are anti-aliased. The truth of each target (which pixels it covers, its homography)
comes back with it. Casts (:func:`apply_cast`) act in linear light, like an illuminant or a white balance: per-channel
gains times an exposure.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from vitiseg.calibration.chart import reference_srgb
from vitiseg.colour import linear_to_srgb, srgb_to_linear

CARD_BLACK = (22, 22, 24)  # the card's frame (sRGB)
# ColorChecker Classic proportions per patch side: gap between patches, frame around them
CHART_GAP = 0.16
CHART_FRAME = (0.2, 0.55)  # (x, y), per patch side: the Classic card is 279 x 216 mm around 38-mm patches


def chart_card(patch_px: int) -> np.ndarray:
    """A 24-patch ColorChecker card, reading order (dark skin top left, black bottom right), patches of
    ``patch_px`` px: ``(h, w, 3) uint8`` sRGB."""
    gap = round(CHART_GAP * patch_px)
    fx, fy = (round(f * patch_px) for f in CHART_FRAME)
    w, h = 6 * patch_px + 5 * gap + 2 * fx, 4 * patch_px + 3 * gap + 2 * fy
    card = np.empty((h, w, 3), np.uint8)
    card[:] = CARD_BLACK
    for i, c in enumerate(reference_srgb()):
        r, k = divmod(i, 6)
        y, x = fy + r * (patch_px + gap), fx + k * (patch_px + gap)
        card[y:y + patch_px, x:x + patch_px] = c
    return card


def marker_sticker(dictionary: str, marker_id: int, px_per_module: int, quiet_modules: int = 1) -> tuple[np.ndarray,
                                                                                                        float]:
    """A printed ArUco / AprilTag marker on a white sticker: ``(image (s, s, 3) uint8, side of the black square in
    px)``. ``quiet_modules``: white border around the black square, in modules (cells of the marker grid)."""
    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    cells = d.markerSize + 2  # data bits + the black border
    side = cells * px_per_module
    m = cv2.aruco.generateImageMarker(d, marker_id, side)
    pad = quiet_modules * px_per_module
    m = cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    return np.repeat(m[:, :, None], 3, axis=2), float(side)


def pose_homography(src_size: tuple[float, float], centre: tuple[float, float], width_px: float,
                    angle_deg: float = 0.0, tilt_deg: tuple[float, float] = (0.0, 0.0),
                    focal_px: float = 1500.0) -> np.ndarray:
    """``(3, 3) float64`` homography from a target's pixel grid (``src_size`` = (w, h)) to the scene.

    The target, ``width_px`` wide when seen face-on, is rotated in its plane by ``angle_deg``, its plane tilted about
    the x and y axes by ``tilt_deg``, and projected by a pinhole camera of focal length ``focal_px`` so that its
    centre lands on ``centre`` (x, y)."""
    sw, sh = src_size
    s = width_px / sw
    a = math.radians(angle_deg)
    tx, ty = (math.radians(t) for t in tilt_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(tx), -math.sin(tx)], [0, math.sin(tx), math.cos(tx)]])
    ry = np.array([[math.cos(ty), 0, math.sin(ty)], [0, 1, 0], [-math.sin(ty), 0, math.cos(ty)]])
    r = ry @ rx @ rz
    # target plane coordinates in px at depth focal_px (so face-on scale = s), centred on the target's centre
    plane = np.array([[s, 0, -s * sw / 2], [0, s, -s * sh / 2], [0, 0, 0]], dtype=np.float64)
    cam = r @ plane
    cam[:, 2] += (0.0, 0.0, focal_px)
    k = np.array([[focal_px, 0, centre[0]], [0, focal_px, centre[1]], [0, 0, 1]])
    h = k @ np.column_stack([cam[:, 0], cam[:, 1], cam[:, 2]])
    return h / h[2, 2]


def place(scene: np.ndarray, target: np.ndarray, homography: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``target`` into ``scene`` through ``homography``: ``(new scene uint8, (H, W) bool pixels covered by at
    least half)``. Blending uses the exact coverage of each pixel (anti-aliased edges); colour is mixed in linear
    light."""
    h, w = scene.shape[:2]
    warped = cv2.warpPerspective(srgb_to_linear(target), homography, (w, h), flags=cv2.INTER_AREA)
    # coverage: warp a 4x supersampled all-ones image, so edge pixels get their covered share
    ones = np.ones((target.shape[0] * 4, target.shape[1] * 4), np.float32)
    up = np.diag([0.25, 0.25, 1.0])
    cover = cv2.warpPerspective(ones, homography @ up, (w, h), flags=cv2.INTER_AREA)
    cover = np.clip(cover, 0.0, 1.0)[..., None]
    out = linear_to_srgb(srgb_to_linear(scene) * (1.0 - cover) + warped * cover)
    return out, cover[..., 0] >= 0.5


def apply_cast(rgb: np.ndarray, gains: tuple[float, float, float], exposure: float = 1.0) -> np.ndarray:
    """The photo under another light / white balance: linear sRGB x per-channel ``gains`` x ``exposure``, clipped and
    re-encoded, ``(H, W, 3) uint8``."""
    g = np.asarray(gains, dtype=np.float32) * np.float32(exposure)
    return linear_to_srgb(srgb_to_linear(rgb) * g)


def area_scale(homography: np.ndarray, point: tuple[float, float]) -> float:
    """Scene px^2 per target px^2 at ``point`` (x, y) of the target's grid: |det| of the homography's Jacobian."""
    x, y = point
    hm = homography
    d = hm[2, 0] * x + hm[2, 1] * y + hm[2, 2]
    u = (hm[0, 0] * x + hm[0, 1] * y + hm[0, 2]) / d
    v = (hm[1, 0] * x + hm[1, 1] * y + hm[1, 2]) / d
    j = np.array([[hm[0, 0] - u * hm[2, 0], hm[0, 1] - u * hm[2, 1]],
                  [hm[1, 0] - v * hm[2, 0], hm[1, 1] - v * hm[2, 1]]]) / d
    return float(abs(np.linalg.det(j)))


def corner_centres(shape: tuple[int, int], size: tuple[float, float], pad: float = 8.0) -> list[tuple[float, float]]:
    """Centres (x, y) that put a ``size`` = (w, h) px target in each corner of an image of ``shape`` (H, W)."""
    h, w = shape
    tw, th = size
    xs, ys = (pad + tw / 2, w - pad - tw / 2), (pad + th / 2, h - pad - th / 2)
    return [(x, y) for y in ys for x in xs]


def add_target(scene: np.ndarray, classes: np.ndarray, target: np.ndarray, width_px: float, angle_deg: float,
               tilt_deg: tuple[float, float] = (0.0, 0.0), focal_px: float = 1500.0
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``target`` ``width_px`` wide into the corner of ``scene`` where it hides the least skin.

    ``classes``: ``(H, W) uint8`` truth {0, 1, 2}; covered pixels become background. Returns ``(scene, classes,
    covered (H, W) bool, homography target px -> scene px)``."""
    th, tw = target.shape[:2]
    extent = width_px * max(1.0, th / tw) * 1.45  # room for any rotation and tilt
    best = None
    for c in corner_centres(classes.shape, (extent, extent)):
        hm = pose_homography((tw, th), c, width_px, angle_deg, tilt_deg, focal_px)
        cover = cv2.warpPerspective(np.ones((th, tw), np.uint8), hm, classes.shape[::-1], flags=cv2.INTER_NEAREST)
        hidden = int((classes[cover > 0] > 0).sum())
        if best is None or hidden < best[0]:
            best = (hidden, hm)
    assert best is not None
    out, covered = place(scene, target, best[1])
    return out, np.where(covered, np.uint8(0), classes), covered, best[1]
