"""Calibration with the shipped U-Net on each backend: the chart's correction and the marker's scale come before the
segmenter, so ONNX Runtime and PyTorch measure a cast photo with references alike."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.config import load_config
from vitiseg.pipeline.photo import measure_photo
from vitiseg.segmentation.load import load_segmenter
from vitiseg.synth.backgrounds import procedural_background
from vitiseg.synth.render import render_sample
from vitiseg.synth.targets import add_target, apply_cast, chart_card, marker_sticker


def scene() -> tuple[np.ndarray, np.ndarray]:
    """A procedural trunk with lesions, a ColorChecker and a 2-cm marker of 40 px: (rgb, reference pixels)."""
    rng = np.random.default_rng(3)
    bg, skin = procedural_background("trunk", 512, rng)
    rgb, cls, _ = render_sample(bg, skin, rng, target_fraction=0.25, photo_strength=0.0)
    rgb, cls, chart_px, _ = add_target(rgb, cls, chart_card(20), 150, 6.0)
    sticker, side = marker_sticker("DICT_4X4_50", 1, 8)
    rgb, _, marker_px, _ = add_target(rgb, cls, sticker, 40.0 * sticker.shape[1] / side, -10.0)
    return rgb, chart_px | marker_px


@pytest.mark.parametrize("backend", ["onnx", pytest.param("torch", marks=pytest.mark.torch)])
def test_a_cast_photo_with_references_is_measured_like_the_neutral_one(backend: str) -> None:
    cfg = load_config(overrides={"segmentation": {"backend": backend}, "calibration": {"marker": {"size_cm": 2.0}}})
    seg = load_segmenter(cfg.segmentation, cfg.normalise)
    assert seg.identity["backend"] == backend
    rgb, references = scene()
    neutral = measure_photo(rgb, "trunk", "", cfg, seg)
    cast = measure_photo(apply_cast(rgb, (1.2, 1.0, 0.75), 0.8), "trunk", "", cfg, seg)
    for m in (neutral, cast):
        c = m.calibration
        assert c["chart"] == "corrected" and c["chart_de00_after"] <= 1.0
        assert c["px_per_cm"] == pytest.approx(20.0, rel=0.01) and c["markers"] == "1 marker"
        assert not m.classes[references].any()  # the card and the sticker are not skin
        assert c["depigmented_cm2"] == pytest.approx(m.depigmented_px / c["px_per_cm"] ** 2, abs=1e-3)
    assert cast.calibration["chart_de00_before"] > 4.0 > neutral.calibration["chart_de00_before"]
    assert np.mean(cast.classes != neutral.classes) < 0.01  # the corrected cast photo is segmented as the neutral
    assert cast.fraction == pytest.approx(neutral.fraction, abs=0.01)
    np.testing.assert_array_equal(cast.rgb, apply_cast(rgb, (1.2, 1.0, 0.75), 0.8))  # overlays show it as taken
