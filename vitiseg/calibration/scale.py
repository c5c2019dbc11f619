"""Physical scale: square fiducial markers (ArUco or AprilTag, OpenCV's ``aruco`` module) of known size -> pixels per
cm, so pixel areas become cm2.

A marker's size is the side of its black square (the printed border included, the white quiet zone around it not),
set in the run config (``calibration.marker.size_cm``); without it no scale is measured, never guessed. Markers are
found on the photo's *linear* luminance (a camera integrates light linearly, so an edge pixel half covered by the
black square is half as bright in linear light, not in sRGB codes) and their corners refined with OpenCV's AprilTag
method: on 60 rendered markers at random poses the median scale error is -0.01 % (largest 0.72 %), against -0.74 %
(largest 4.3 %) for sub-pixel refinement on sRGB grey (``research/2026-12-01-calibration/corner_refinement.py``).
Small, steeply tilted markers are read less often on linear luminance (their black cells look thinner there: 16 of
300 rendered 22-30 px markers missed, against 5 on sRGB grey), so a marker found only on the sRGB grey is kept with
its corners from there (AprilTag method: median -0.46 %, largest 0.82 %).

The scale of a marker is ``sqrt(area of its quadrilateral in px) / size_cm``: on a tilted surface the
quadrilateral's area still gives the local area scale, which is what converts a lesion's pixel area on the same
surface near the marker (farther away, perspective changes the scale: ``scripts/calibration_benchmark.py``). With
several markers in a photo the median scale is used.

A detection is kept only if its quadrilateral can be a printed square seen from the front half-space: its shortest
side at least :data:`MIN_SIDE_PX` and at least :data:`MIN_SIDE_RATIO` of its longest (a square tilted by 70 degrees
still has 0.34). On 300 rendered scenes the detector once read a marker into sensor noise on a plain background, a
sliver with sides of 7 and 42 px, which halved the photo's scale; these rules reject it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..colour import srgb_to_linear
from ..config import MarkerConfig

MIN_SIDE_PX = 8.0  # below this a 4 x 4 marker's cells are under 1.4 px: nothing readable, so a false detection
MIN_SIDE_RATIO = 0.3


@dataclass(frozen=True)
class ScaleResult:
    """Markers found in one photo: ``corners`` ``(n, 4, 2) float32`` px, ``ids`` ``(n,) int``, ``px_per_cm`` (median
    over markers; NaN when none or no size configured) and a short ``status``."""

    corners: np.ndarray
    ids: np.ndarray
    px_per_cm: float
    status: str


def detector(dictionary: str) -> cv2.aruco.ArucoDetector:
    """An ArUco / AprilTag detector for one of OpenCV's predefined dictionaries, with sub-pixel corners."""
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_APRILTAG
    return cv2.aruco.ArucoDetector(cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary)), params)


def quad_area(corners: np.ndarray) -> float:
    """Area in px2 of a quadrilateral ``(4, 2)`` (shoelace)."""
    return float(abs(cv2.contourArea(np.asarray(corners, np.float32).reshape(-1, 1, 2))))


def plausible_quad(corners: np.ndarray) -> bool:
    """Whether a detected ``(4, 2)`` quadrilateral (px) can be a square marker: convex, shortest side at least
    :data:`MIN_SIDE_PX` and :data:`MIN_SIDE_RATIO` of the longest."""
    q = np.asarray(corners, np.float32).reshape(4, 2)
    sides = np.linalg.norm(np.roll(q, -1, axis=0) - q, axis=1)
    return bool(cv2.isContourConvex(q.reshape(-1, 1, 2)) and sides.min() >= MIN_SIDE_PX
                and sides.min() >= MIN_SIDE_RATIO * sides.max())


def detect(grey: np.ndarray, dictionary: str) -> tuple[np.ndarray, np.ndarray]:
    """Plausible markers in one ``(H, W) uint8`` grey image: ``((n, 4, 2) float32 corners px, (n,) int ids)``."""
    corners, ids, _ = detector(dictionary).detectMarkers(grey)
    quads = np.asarray(corners, np.float32).reshape(-1, 4, 2)
    ids = np.zeros(0, int) if ids is None else np.asarray(ids).ravel().astype(int)
    keep = np.array([plausible_quad(q) for q in quads], bool)
    return quads[keep], ids[keep]


def find_markers(rgb: np.ndarray, cfg: MarkerConfig) -> ScaleResult:
    """Markers of ``cfg.dictionary`` in ``rgb`` (``(H, W, 3) uint8`` sRGB) and the scale they give."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    linear = np.clip(srgb_to_linear(grey) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    quads, ids = detect(linear, cfg.dictionary)
    more, more_ids = detect(grey, cfg.dictionary)
    for q, i in zip(more, more_ids):  # found on sRGB grey only: no linear-light marker within half a side
        side = np.sqrt(quad_area(q))
        if not any(np.linalg.norm(q.mean(axis=0) - p.mean(axis=0)) < side / 2 for p in quads):
            quads, ids = np.concatenate([quads, q[None]]), np.append(ids, i)
    if len(ids) == 0:
        return ScaleResult(np.zeros((0, 4, 2), np.float32), ids, float("nan"), "no marker")
    if cfg.size_cm is None:
        return ScaleResult(quads, ids, float("nan"), "marker found; no calibration.marker.size_cm, no scale")
    scales = [np.sqrt(quad_area(q)) / cfg.size_cm for q in quads]
    n = len(quads)
    return ScaleResult(quads, ids, float(np.median(scales)), f"{n} marker{'s' if n > 1 else ''}")


def marker_region(corners: np.ndarray, shape: tuple[int, int], margin: float) -> np.ndarray:
    """``(H, W) bool`` pixels of the markers and their stickers: each quadrilateral grown about its centre by
    ``margin`` marker sides on every side, for an image of ``shape`` ``(H, W)``."""
    m = np.zeros(shape, np.uint8)
    for q in np.asarray(corners, np.float64).reshape(-1, 4, 2):
        c = q.mean(axis=0)
        grown = c + (1.0 + 2.0 * margin) * (q - c)
        cv2.fillConvexPoly(m, np.round(grown).astype(np.int32), 1)
    return m.astype(bool)


def area_cm2(px: float, px_per_cm: float) -> float:
    """Pixel area -> cm2 at ``px_per_cm`` (NaN stays NaN)."""
    return float(px) / (px_per_cm * px_per_cm)
