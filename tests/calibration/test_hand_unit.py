"""The patient's hand unit: the hand cut at the wrist line, and the palm photo measured with MediaPipe Hands."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vitiseg.calibration.hand_unit import MIDDLE_MCP, WRIST, detect_hands, hand_mask, measure_hand_unit
from vitiseg.calibration.scale import ScaleResult, find_markers
from vitiseg.config import MarkerConfig
from vitiseg.io.images import read_mask, read_rgb

from helpers import SHARED_DATA, needs_skin

HGR = SHARED_DATA / "skin" / "hgr_hands_subset"


def landmarks(wrist: tuple[float, float], knuckle: tuple[float, float]) -> np.ndarray:
    """21 landmarks: the wrist and the middle knuckle where given, the rest on the knuckle."""
    lm = np.tile(np.asarray(knuckle, np.float64), (21, 1))
    lm[WRIST], lm[MIDDLE_MCP] = wrist, knuckle
    return lm


def test_hand_is_the_skin_beyond_the_wrist_line_that_holds_the_landmarks() -> None:
    skin = np.zeros((200, 120), bool)
    skin[20:100, 30:90] = True  # hand: 80 x 60 = 4800 px
    skin[100:200, 45:75] = True  # forearm below the wrist crease (row 100)
    skin[5:15, 100:115] = True  # other skin, not the hand
    mask = hand_mask(skin, landmarks((60.0, 100.0), (60.0, 50.0)))
    assert mask.sum() == 4800 and mask[20:100, 30:90].all()
    # a hand pointing left: the wrist line is vertical
    turned = np.ascontiguousarray(np.rot90(skin))
    assert hand_mask(turned, landmarks((100.0, 59.0), (50.0, 59.0))).sum() == 4800
    assert not hand_mask(skin, landmarks((110.0, 180.0), (110.0, 170.0))).any()  # landmarks off the skin


def test_a_palm_photo_without_scale_or_hand_is_an_error() -> None:
    classes = np.ones((64, 64), np.uint8)
    no_scale = ScaleResult(np.zeros((0, 4, 2), np.float32), np.zeros(0, int), float("nan"), "no marker")
    with pytest.raises(ValueError, match="palm photo: no physical scale"):
        measure_hand_unit(np.zeros((64, 64, 3), np.uint8), classes, no_scale)
    scale = ScaleResult(np.zeros((1, 4, 2), np.float32), np.zeros(1, int), 20.0, "1 marker")
    with pytest.raises(ValueError, match="no hand found by MediaPipe Hands"):
        measure_hand_unit(np.full((64, 64, 3), 128, np.uint8), classes, scale)


@needs_skin
@pytest.mark.parametrize("mirror", [False, True])  # the right hand and the left
def test_palm_photo_with_a_marker_gives_the_hand_area_in_cm2(mirror: bool) -> None:
    from vitiseg.synth.targets import add_target, marker_sticker

    name = "0_A_hgr2B_id01_1"
    rgb = read_rgb(HGR / "images" / f"{name}.jpg")
    skin = (read_mask(HGR / "masks" / f"{name}.png") > 0).astype(np.uint8)
    if mirror:
        rgb, skin = cv2.flip(rgb, 1), cv2.flip(skin, 1)
    sticker, side = marker_sticker("DICT_4X4_50", 1, 8)
    rgb, cls, _, _ = add_target(rgb, skin, sticker, 40.0 * sticker.shape[1] / side, 12.0)
    hands = detect_hands(rgb)
    assert len(hands) == 1
    truth_px = hand_mask(cls > 0, hands[0]).sum()
    assert 0.2 * (cls > 0).sum() < truth_px < 0.6 * (cls > 0).sum()  # the hand, not the forearm
    scale = find_markers(rgb, MarkerConfig(size_cm=2.0))  # 40 px for 2 cm: 20 px per cm
    assert measure_hand_unit(rgb, cls, scale) == pytest.approx(truth_px / 400.0, rel=0.01)
