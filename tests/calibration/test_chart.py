"""The colour chart: reference colours, detection, the fitted correction, orientation, and false detections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vitiseg.calibration.chart import chart_region, measure_chart, reference_linear, reference_srgb
from vitiseg.colour import rgb_to_lab
from vitiseg.config import ChartConfig
from vitiseg.synth.targets import CHART_FRAME, CHART_GAP, add_target, apply_cast, chart_card

from helpers import key_photo

CFG = ChartConfig()
PATCH = 24


def chart_scene(card: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A key photo (skin with a depigmented patch) with a ColorChecker card in a corner: (rgb, card pixels)."""
    rgb, cls = key_photo(300, 400, (20, 280, 20, 200), [(40, 120, 40, 150)])
    scene, _, covered, _ = add_target(rgb, cls, chart_card(PATCH) if card is None else card, 170, 8.0)
    return scene, covered


def test_reference_greys_are_neutral_and_ordered() -> None:
    ref = reference_srgb().astype(int)
    assert ref.shape == (24, 3) and reference_linear().min() >= 0 and reference_linear().max() <= 1
    lab = rgb_to_lab(ref[18:].astype(np.uint8))  # white 9.5 ... black 2
    assert np.abs(lab[:, 1:]).max() < 3.5  # near neutral (the white patch is slightly warm)
    assert np.all(np.diff(lab[:, 0]) < -5)  # lighter to darker, well apart
    assert tuple(ref[0]) != tuple(ref[23])


@pytest.mark.parametrize("gains, exposure", [((1.25, 1.0, 0.7), 1.0), ((0.7, 1.0, 1.25), 1.0), ((1.0, 1.0, 1.0), 0.7),
                                             ((0.8, 1.25, 0.8), 0.85)])
def test_a_cast_is_undone_by_the_inverse_gains(gains, exposure) -> None:
    scene, _ = chart_scene()
    res = measure_chart(apply_cast(scene, gains, exposure), CFG)
    assert res.status == "corrected"
    assert res.de00_before > 4.0 and res.de00_after <= 0.6
    expected = np.diag(1.0 / (np.asarray(gains) * exposure))
    np.testing.assert_allclose(res.correction.matrix, expected, atol=0.02 * expected.max())


def test_the_corrected_photo_has_the_uncast_colours() -> None:
    scene, covered = chart_scene()
    res = measure_chart(apply_cast(scene, (1.2, 0.8, 1.1), 0.9), CFG)
    corrected = res.correction.apply(apply_cast(scene, (1.2, 0.8, 1.1), 0.9))
    diff = np.abs(corrected.astype(int) - scene)[~covered]
    assert np.percentile(diff, 99) <= 2


def test_an_upside_down_chart_is_read_the_other_way() -> None:
    scene, _ = chart_scene()
    cast = apply_cast(scene, (1.25, 1.0, 0.7))
    upright = measure_chart(cast, CFG)
    turned = measure_chart(cv2.rotate(cast, cv2.ROTATE_180), CFG)
    assert turned.status == "corrected" and turned.de00_after == pytest.approx(upright.de00_after, abs=0.1)
    np.testing.assert_allclose(turned.correction.matrix, upright.correction.matrix, atol=0.02)


def test_no_chart_a_fake_chart_and_a_blown_out_chart() -> None:
    rgb, _ = key_photo(300, 400, (20, 280, 20, 200), [(40, 120, 40, 150)])
    assert measure_chart(rgb, CFG).status == "none"
    # the same card with its patches shuffled: a grid of colours, not a ColorChecker
    card, ref = chart_card(PATCH), reference_srgb()
    gap, fx, fy = round(CHART_GAP * PATCH), round(CHART_FRAME[0] * PATCH), round(CHART_FRAME[1] * PATCH)
    for i, j in enumerate(np.random.default_rng(0).permutation(24)):
        r, k = divmod(i, 6)
        card[fy + r * (PATCH + gap):fy + r * (PATCH + gap) + PATCH, fx + k * (PATCH + gap):fx + k * (PATCH + gap) + PATCH] = ref[j]
    shuffled, _ = chart_scene(card)
    res = measure_chart(shuffled, CFG)
    assert res.status.startswith("rejected: patches differ") and res.correction is None
    scene, _ = chart_scene()
    blown = measure_chart(apply_cast(scene, (1.0, 1.0, 1.0), 3.0), CFG)
    assert blown.status.startswith("rejected:") and "usable patches" in blown.status


def test_root_polynomial_correction_also_meets_the_target() -> None:
    scene, _ = chart_scene()
    res = measure_chart(apply_cast(scene, (0.7, 1.0, 1.25), 1.1), ChartConfig(method="root_polynomial"))
    assert res.status == "corrected" and res.correction.matrix.shape == (3, 6) and res.de00_after <= 1.0
    assert res.correction.describe().startswith("root_polynomial: ")


def test_chart_region_covers_the_card() -> None:
    scene, covered = chart_scene()
    region = chart_region(measure_chart(scene, CFG).homography, scene.shape[:2])
    assert (region & covered).sum() >= 0.99 * covered.sum()
    assert region.sum() <= 1.35 * covered.sum()
