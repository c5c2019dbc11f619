"""Calibration of one photo: corrected colours, excluded references, photos.csv columns, and the fraction of a photo
under colour casts (the fast version of ``scripts/calibration_benchmark.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.calibration.photo import CALIBRATION_COLUMNS, calibrate_photo
from vitiseg.colour import ita_degrees, rgb_to_lab
from vitiseg.config import CalibrationConfig, ChartConfig, MarkerConfig, NormaliseConfig, SegmentationConfig
from vitiseg.segmentation.base import segment_photo
from vitiseg.segmentation.load import load_segmenter
from vitiseg.synth.backgrounds import procedural_background
from vitiseg.synth.render import render_sample
from vitiseg.synth.targets import add_target, apply_cast, chart_card, marker_sticker

from helpers import SKIN, KeySegmenter, key_photo

CASTS = {"warm": ((1.25, 1.0, 0.7), 1.0), "cool": ((0.7, 1.0, 1.25), 1.0), "green": ((0.8, 1.25, 0.8), 1.0),
         "dim": ((1.0, 1.0, 1.0), 0.7)}


def test_chart_and_marker_photo() -> None:
    rgb, cls = key_photo(360, 480, (20, 340, 20, 300), [(40, 140, 40, 200)])
    rgb, cls, chart_px, _ = add_target(rgb, cls, chart_card(24), 170, 5.0)
    sticker, side = marker_sticker("DICT_4X4_50", 2, 8)
    rgb, cls, marker_px, _ = add_target(rgb, cls, sticker, 48.0 * sticker.shape[1] / side, 0.0)  # 48 px = 2 cm
    cast = apply_cast(rgb, (1.2, 1.0, 0.75), 0.8)
    cfg = CalibrationConfig(marker=MarkerConfig(size_cm=2.0))
    cal = calibrate_photo(cast, cfg)
    assert cal.chart.status == "corrected" and cal.scale.px_per_cm == pytest.approx(24.0, rel=0.005)
    assert (cal.exclude[chart_px | marker_px]).mean() > 0.99
    skin = (cls == 1) & ~cal.exclude
    assert np.abs(cal.rgb[skin].astype(int) - SKIN).max() <= 2  # the cast is gone from the skin
    seg = segment_photo(cal.rgb, KeySegmenter(), 0, cal.exclude)
    assert not seg.classes[cal.exclude].any()
    np.testing.assert_array_equal(seg.classes[~cal.exclude], cls[~cal.exclude])
    cols = cal.columns(seg.classes, None, NormaliseConfig())
    assert set(cols) <= set(CALIBRATION_COLUMNS)
    assert cols["chart"] == "corrected" and cols["chart_correction"].startswith("matrix: ")
    assert cols["chart_de00_after"] <= 1.0 < cols["chart_de00_before"] and cols["normalisation"] == "shades_of_grey p=6"
    n_skin, n_depig = int((seg.classes > 0).sum()), int((seg.classes == 2).sum())
    assert cols["skin_cm2"] == pytest.approx(n_skin / cal.scale.px_per_cm ** 2, abs=1e-3)
    assert cols["depigmented_cm2"] == pytest.approx(n_depig / cal.scale.px_per_cm ** 2, abs=1e-3)
    skin_lab = rgb_to_lab(np.array([SKIN], np.uint8))[0]  # the key photo's skin, uncast
    assert cols["markers"] == "1 marker" and cols["skin_L"] == pytest.approx(skin_lab[0], abs=0.5)
    assert cols["skin_ita"] == pytest.approx(ita_degrees(skin_lab[0], skin_lab[2]), abs=1.0)


def test_without_references_the_row_says_so_and_nothing_changes() -> None:
    rgb, cls = key_photo(120, 160, (10, 110, 10, 150), [])
    cal = calibrate_photo(rgb, CalibrationConfig())
    assert cal.rgb is rgb and cal.exclude is None
    cols = cal.columns(cls, None, NormaliseConfig())
    assert (cols["chart"], cols["chart_correction"], cols["markers"]) == ("none", "", "no marker")
    assert "px_per_cm" not in cols and "skin_cm2" not in cols  # no scale: empty, never guessed
    off = calibrate_photo(rgb, CalibrationConfig(chart=ChartConfig(detect=False)))
    assert off.chart.status == "off"


def test_fraction_under_casts_comes_back_with_the_chart() -> None:
    """Classical segmenter on a procedural trunk with lesions: with the chart, every cast stays within 1 pp of the
    neutral photo; shades of grey alone does not undo the exposure error."""
    rng = np.random.default_rng(0)
    bg, skin = procedural_background("trunk", 384, rng)
    rgb, cls, _ = render_sample(bg, skin, rng, target_fraction=0.25, photo_strength=0.0)
    scene, cls, covered, _ = add_target(rgb, cls, chart_card(16), 130, 10.0)
    seg = load_segmenter(SegmentationConfig(model="classical"), NormaliseConfig())

    def fraction(classes):
        return 100 * (classes == 2).sum() / (classes > 0).sum()

    neutral = calibrate_photo(scene, CalibrationConfig())
    f0 = fraction(segment_photo(neutral.rgb, seg, 0, neutral.exclude).classes)
    sog0 = fraction(segment_photo(scene, seg, 0, covered).classes)
    for name, (gains, exposure) in CASTS.items():
        photo = apply_cast(scene, gains, exposure)
        cal = calibrate_photo(photo, CalibrationConfig())
        assert cal.chart.status == "corrected" and cal.chart.de00_after <= 2.0, name
        assert fraction(segment_photo(cal.rgb, seg, 0, cal.exclude).classes) == pytest.approx(f0, abs=1.0), name
    dim = fraction(segment_photo(apply_cast(scene, *CASTS["dim"]), seg, 0, covered).classes)
    assert abs(dim - sog0) > 3.0
