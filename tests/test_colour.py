"""Colour: sRGB transfer functions, CIELAB, ITA and normalisation, with exact reference values and invariants."""

from __future__ import annotations

import math

import colour as colour_science
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitiseg.colour import (
    apply_gains,
    estimate_illuminant,
    ita_degrees,
    lab_to_rgb,
    linear_to_srgb,
    normalise,
    rgb_to_lab,
    skin_ita,
    srgb_to_linear,
)
from vitiseg.config import NormaliseConfig


def test_srgb_transfer_functions_match_the_standard() -> None:
    codes = np.arange(256, dtype=np.uint8)
    lin = srgb_to_linear(codes)
    assert lin.dtype == np.float32
    assert lin[0] == 0.0 and lin[255] == 1.0
    assert lin[10] == pytest.approx(10 / 255 / 12.92, rel=1e-6)  # linear segment of IEC 61966-2-1
    assert lin[128] == pytest.approx(((128 / 255 + 0.055) / 1.055) ** 2.4, rel=1e-6)
    np.testing.assert_array_equal(linear_to_srgb(lin), codes)  # exact round trip of every code
    assert linear_to_srgb(np.array([-0.5, 2.0])).tolist() == [0, 255]  # clipped


def test_srgb_transfer_functions_equal_colour_science() -> None:
    from vitiseg.colour import _decode_lut, _encode_grid

    ref = colour_science.cctf_decoding(np.arange(256) / 255.0, function="sRGB")
    np.testing.assert_allclose(_decode_lut(), ref, rtol=0, atol=1e-12)
    lin, enc = _encode_grid()
    np.testing.assert_allclose(enc, colour_science.cctf_encoding(lin, function="sRGB"), rtol=0, atol=1e-12)
    x = np.random.default_rng(0).random(10_000)
    np.testing.assert_array_equal(linear_to_srgb(x), np.clip(colour_science.cctf_encoding(x, function="sRGB")
                                                             * 255.0 + 0.5, 0, 255).astype(np.uint8))


def test_lab_reference_values() -> None:
    lab = rgb_to_lab(np.array([[255, 255, 255], [0, 0, 0], [255, 0, 0]], np.uint8))
    want = colour_science.XYZ_to_Lab(colour_science.sRGB_to_XYZ(np.array([[1.0, 1, 1], [0, 0, 0], [1, 0, 0]])))
    np.testing.assert_allclose(lab, want, atol=0.6)  # OpenCV's float conversion vs colour-science
    assert lab[0, 0] == pytest.approx(100.0, abs=0.01) and abs(lab[0, 1]) < 0.01 and abs(lab[0, 2]) < 0.01


@settings(max_examples=60)
@given(st.lists(st.integers(0, 255), min_size=3, max_size=3))
def test_lab_round_trip(rgb: list[int]) -> None:
    px = np.array([[rgb]], np.uint8)
    assert np.abs(lab_to_rgb(rgb_to_lab(px)).astype(int) - px).max() <= 1


def test_ita_formula_and_its_sign_conventions() -> None:
    assert ita_degrees(50.0, 10.0) == 0.0
    assert ita_degrees(60.0, 10.0) == pytest.approx(45.0)
    assert ita_degrees(40.0, 10.0) == pytest.approx(-45.0)
    assert ita_degrees(70.0, 0.0) == pytest.approx(90.0)  # atan2: b* = 0 is +-90, not a division by zero
    assert ita_degrees(30.0, 0.0) == pytest.approx(-90.0)
    assert ita_degrees(60.0, -10.0) == pytest.approx(135.0)  # b* < 0 (never skin): the full-circle angle
    light = np.full((20, 20, 3), (230, 200, 180), np.uint8)
    dark = np.full((20, 20, 3), (90, 60, 45), np.uint8)
    ref = np.ones((20, 20), bool)
    lab = rgb_to_lab(light[:1, :1])[0, 0]
    assert skin_ita(light, ref) == pytest.approx(math.degrees(math.atan((lab[0] - 50) / lab[2])), abs=1e-4)
    assert skin_ita(light, ref) > 30 > -30 > skin_ita(dark, ref)
    assert math.isnan(skin_ita(light, np.zeros((20, 20), bool)))
    assert math.isnan(skin_ita(light, ref, min_px=401)) and not math.isnan(skin_ita(light, ref, min_px=400))


def test_skin_ita_uses_the_median_of_the_selected_pixels() -> None:
    rgb = np.zeros((3, 3, 3), np.uint8)
    rgb[0] = (230, 200, 180)
    rgb[1] = (200, 150, 120)
    rgb[2] = (90, 60, 45)
    sel = np.zeros((3, 3), bool)
    sel[:, 0] = True
    lab = rgb_to_lab(rgb[:, 0])  # the three tones; L* and b* have their medians in different pixels
    L, b = sorted(lab[:, 0])[1], sorted(lab[:, 2])[1]
    assert np.argsort(lab[:, 0])[1] != np.argsort(lab[:, 2])[1]
    assert skin_ita(rgb, sel) == pytest.approx(ita_degrees(float(L), float(b)), abs=1e-6)


def test_shades_of_grey_removes_a_colour_cast() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(40, 220, (64, 64, 3)).astype(np.float64)
    neutral = scene.mean(axis=2, keepdims=True).repeat(3, axis=2)
    cast = np.clip(neutral * np.array([1.15, 1.0, 0.8]), 0, 255).astype(np.uint8)
    out = normalise(cast, NormaliseConfig())
    assert np.ptp(estimate_illuminant(cast, 6)) > 0.2 and np.ptp(estimate_illuminant(out, 6)) < 0.02
    assert normalise(cast, NormaliseConfig(method="none")) is cast
    gw = normalise(cast, NormaliseConfig(method="grey_world"))
    assert np.ptp(estimate_illuminant(gw, 1)) < 0.02
    with pytest.raises(ValueError, match="uint8"):
        normalise(cast.astype(np.float32), NormaliseConfig())


def test_illuminant_estimate_exact_on_a_two_colour_image() -> None:
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (200, 100, 50)
    rgb[4:] = (100, 100, 100)
    lin = srgb_to_linear(np.array([[200, 100, 50], [100, 100, 100]], np.uint8)).astype(np.float64)
    e = ((lin ** 1).mean(0))  # grey world: plain mean of linear RGB
    np.testing.assert_allclose(estimate_illuminant(rgb, 1), e / e.mean(), rtol=1e-6)
    e6 = ((lin ** 6).mean(0)) ** (1 / 6)
    np.testing.assert_allclose(estimate_illuminant(rgb, 6), e6 / e6.mean(), rtol=1e-6)
    big = np.concatenate([rgb] * 2)  # 128 px: enough usable pixels to leave saturated ones out
    sat = big.copy()
    sat[:2] = (255, 255, 255)  # 16 saturated pixels are left out of the estimate
    np.testing.assert_allclose(estimate_illuminant(sat, 6), estimate_illuminant(big[2:], 6), rtol=1e-9)
    assert estimate_illuminant(np.zeros((8, 8, 3), np.uint8), 6).tolist() == [1.0, 1.0, 1.0]  # black image


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.5, 2.0), st.floats(0.5, 2.0), st.floats(0.5, 2.0))
def test_apply_gains_is_a_per_channel_lookup(seed: int, gr: float, gg: float, gb: float) -> None:
    rgb = np.random.default_rng(seed).integers(0, 256, (6, 7, 3), dtype=np.uint8)
    out = apply_gains(rgb, np.array([gr, gg, gb]))
    want = linear_to_srgb(srgb_to_linear(rgb).astype(np.float64) * np.array([gr, gg, gb]))
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - want).max() <= 1  # interpolated table vs exact encoding
    # gains of 1 change nothing
    np.testing.assert_array_equal(apply_gains(rgb, np.ones(3)), rgb)
