"""Physical scale: square fiducial markers (ArUco or AprilTag, OpenCV's ``aruco`` module) of known size -> pixels per
cm, so pixel areas become cm2.

A marker's size is the side of its black square (the printed border included, the white quiet zone around it not),
set in the run config (``calibration.marker.size_cm``); without it no scale is measured, never guessed. Markers are
found on the photo's *linear* luminance (a camera integrates light linearly, so an edge pixel half covered by the
black square is half as bright in linear light, not in sRGB codes) and their corners refined with OpenCV's AprilTag
method: on 60 rendered markers at random poses the median scale error is -0.01 % (largest 0.72 %), against -0.74 %
(largest 4.3 %) for sub-pixel refinement on sRGB grey (``research/2026-12-01-calibration/corner_refinement.py``).

The scale of a marker is ``sqrt(area of its quadrilateral in px) / size_cm``: on a tilted surface the
quadrilateral's area still gives the local area scale, which is what converts a lesion's pixel area on the same
surface near the marker (farther away, perspective changes the scale: ``scripts/calibration_benchmark.py``). With
several markers in a photo the median scale is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..colour import srgb_to_linear
from ..config import MarkerConfig


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


def find_markers(rgb: np.ndarray, cfg: MarkerConfig) -> ScaleResult:
    """Markers of ``cfg.dictionary`` in ``rgb`` (``(H, W, 3) uint8`` sRGB) and the scale they give."""
    grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
    grey = np.clip(srgb_to_linear(grey) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    corners, ids, _ = detector(cfg.dictionary).detectMarkers(grey)
    if ids is None or len(ids) == 0:
        return ScaleResult(np.zeros((0, 4, 2), np.float32), np.zeros(0, int), float("nan"), "no marker")
    quads = np.asarray(corners, np.float32).reshape(-1, 4, 2)
    ids = np.asarray(ids).ravel().astype(int)
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
