"""The patient's own hand unit: the area of one palm with its fingers, in cm2, from a palm photo with a scale marker.

VASI measures involvement in *hand units*: one hand unit is the patient's palm plus the volar surface of all five
digits, about 1 % of body surface area (Hamzavi et al., Arch Dermatol 2004). vitiseg's scores use the adult
Lund-Browder shares in hand units (``regions.yaml``); with the patient's own hand unit in cm2, lesion areas measured in
cm2 (photos with a marker) convert to the patient's own hand units instead, and the report compares the two.

The photo: ``VISITS/<patient>/<visit>/palm.<ext>`` (``palm`` is reserved for it: it is not a scored region), one hand
palm up, fingers together or apart, the whole hand from the wrist crease to the fingertips in the frame, with a scale
marker (``calibration.marker``) lying on the same plane, beside the hand.

Measurement: MediaPipe Hands (bundled with mediapipe 0.10.14, offline) finds the 21 landmarks of the hand; the skin
classes of the segmenter give its outline. The hand is the skin connected to the landmarks on the fingers' side of
the wrist line (through the wrist landmark, perpendicular to the wrist -> middle-finger knuckle axis: the wrist
crease). Its pixel area over the marker's (px per cm)^2 is the hand unit in cm2.
"""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np

from ..mediapipe_solutions import solutions
from .scale import ScaleResult, area_cm2

WRIST, MIDDLE_MCP = 0, 9  # MediaPipe Hands landmark indices
N_LANDMARKS = 21
MIN_DETECTION_CONFIDENCE = 0.5

_HANDS_LOCK = threading.Lock()  # the MediaPipe graph is not re-entrant
_HANDS: Any = None


def _hands() -> Any:
    global _HANDS
    if _HANDS is None:
        from ..console import quiet_native_stderr

        with quiet_native_stderr():  # TFLite's start-up lines on the graph's creation and first run
            hands = solutions().hands.Hands(static_image_mode=True, max_num_hands=2, model_complexity=1,
                                            min_detection_confidence=MIN_DETECTION_CONFIDENCE)
            hands.process(np.zeros((64, 64, 3), np.uint8))
        _HANDS = hands
    return _HANDS


def detect_hands(rgb: np.ndarray) -> list[np.ndarray]:
    """Hands MediaPipe finds in ``rgb`` (``(H, W, 3) uint8`` sRGB): a list of ``(21, 2) float64`` landmark (x, y) px."""
    h, w = rgb.shape[:2]
    with _HANDS_LOCK:
        res = _hands().process(np.ascontiguousarray(rgb))
    return [np.array([(p.x * w, p.y * h) for p in hl.landmark], dtype=np.float64)
            for hl in (res.multi_hand_landmarks or [])]


def hand_mask(skin: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``(H, W) bool`` hand unit area: the ``skin`` (``(H, W) bool``) components that hold a landmark, on the fingers'
    side of the wrist line. ``landmarks``: ``(21, 2)`` px in MediaPipe's order."""
    h, w = skin.shape
    wrist, axis = landmarks[WRIST], landmarks[MIDDLE_MCP] - landmarks[WRIST]
    norm = float(np.hypot(*axis))
    if norm < 1.0:
        raise ValueError("palm photo: hand landmarks degenerate (wrist on the knuckles)")
    yy, xx = np.mgrid[0:h, 0:w]
    distal = ((xx - wrist[0]) * axis[0] + (yy - wrist[1]) * axis[1]) > 0  # pixel centres beyond the line
    _, labels = cv2.connectedComponents((skin & distal).astype(np.uint8), connectivity=8)
    pts = np.round(landmarks).astype(int)
    inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
    ids = {int(labels[y, x]) for x, y in pts[inside]} - {0}
    return np.isin(labels, sorted(ids)) if ids else np.zeros_like(skin)


def measure_hand_unit(rgb: np.ndarray, classes: np.ndarray, scale: ScaleResult) -> float:
    """The hand unit in cm2 from a palm photo: ``rgb`` ``(H, W, 3) uint8`` sRGB as taken, ``classes`` ``(H, W)``
    {0, 1, 2} of the segmenter (skin = 1 or 2), ``scale`` the photo's markers. ValueError with the reason otherwise."""
    if not np.isfinite(scale.px_per_cm):
        raise ValueError(f"palm photo: no physical scale ({scale.status}); photograph the palm with a marker of "
                         "the size set in calibration.marker.size_cm")
    hands = detect_hands(rgb)
    if len(hands) != 1:
        raise ValueError(f"palm photo: {'no hand' if not hands else f'{len(hands)} hands'} found by MediaPipe Hands; "
                         "photograph one open palm, wrist to fingertips")
    mask = hand_mask(classes > 0, hands[0])
    if not mask.any():
        raise ValueError("palm photo: the hand's landmarks are not on skin; check the overlay")
    return area_cm2(mask.sum(), scale.px_per_cm)
