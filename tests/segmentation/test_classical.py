"""The training-free CIELAB baseline on photos with known classes."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.segmentation.classical import ClassicalSegmenter, classical_segment

from helpers import BG, SKIN, key_photo


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_key_photo_is_segmented_almost_exactly() -> None:
    rgb, truth = key_photo(300, 400, (30, 270, 40, 360), [(100, 200, 100, 200)])
    rgb = np.clip(rgb + np.random.default_rng(0).normal(0, 3, rgb.shape), 0, 255).astype(np.uint8)
    got = classical_segment(rgb)
    assert got.shape == truth.shape and got.dtype == np.uint8
    assert _dice(got == 2, truth == 2) > 0.97 and _dice(got > 0, truth > 0) > 0.99
    assert not (got[:30] > 0).any()  # the blue backdrop is never skin


def test_a_white_patch_enclosed_by_skin_is_skin_a_white_object_beside_it_is_not() -> None:
    rgb, _ = key_photo(200, 300, (20, 180, 20, 150), [(60, 120, 60, 110)])
    rgb[20:180, 170:280] = (246, 232, 226)  # a white shirt touching nothing but the backdrop
    got = classical_segment(rgb)
    assert (got[70:110, 70:100] == 2).all()
    assert not (got[20:180, 175:280] > 0).any()


def test_no_skin_and_no_reference() -> None:
    assert not classical_segment(np.full((64, 64, 3), BG, np.uint8)).any()
    white = np.full((64, 64, 3), (246, 232, 226), np.uint8)  # 100 % depigmented: no pigmented seed, no skin
    assert not classical_segment(white).any()
    skin_only = np.full((64, 64, 3), SKIN, np.uint8)
    assert (classical_segment(skin_only) == 1).all()
    with pytest.raises(ValueError, match="uint8"):
        classical_segment(np.zeros((8, 8), np.uint8))


def test_identity_names_the_code_and_its_parameter() -> None:
    a, b = ClassicalSegmenter(0.01), ClassicalSegmenter(0.05)
    assert a.identity["sha256"] == ClassicalSegmenter(0.01).identity["sha256"] != b.identity["sha256"]
    small = np.full((100, 100, 3), BG, np.uint8)
    small[10:30, 10:30] = SKIN  # 4 % of the photo
    assert (a.predict(small) > 0).sum() == 396  # the square less its 4 corners (3 px elliptic opening)
    assert not b.predict(small).any()  # below min_skin_fraction: not skin
