"""Skin backgrounds: the tone shift darkens skin to a target ITA and keeps its texture and everything else."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.color import rgb2lab

from vitiseg.colour import skin_ita
from vitiseg.synth import backgrounds as bgm


def test_tone_shift_darkens_skin_keeps_texture_and_background():
    rng = np.random.default_rng(0)  # light skin disc (ITA ~ 50 deg) with texture on a grey-blue background
    yy, xx = np.mgrid[0:128, 0:128]
    skin = (yy - 64) ** 2 + (xx - 64) ** 2 < 40 ** 2
    rgb = np.empty((128, 128, 3), np.float64)
    rgb[:] = (90, 100, 120)
    rgb[skin] = (225, 190, 170)
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    before = skin_ita(rgb, skin)
    assert before > 30
    out, info = bgm.shift_skin_tone(rgb, skin, np.random.default_rng(5), ita_range=(-30.0, -20.0))
    assert info is not None and info["from_ita"] == pytest.approx(before, abs=0.01)
    assert info["to_ita"] < before
    assert skin_ita(out, skin) == pytest.approx(info["to_ita"], abs=4.0)  # median skin colour lands on the target
    far = ~(ndimage.binary_dilation(skin, iterations=6))
    assert far.any() and (out[far] == rgb[far]).all()  # non-skin pixels away from the border are untouched
    L0 = rgb2lab(rgb / 255.0)[..., 0][skin]
    L1 = rgb2lab(out / 255.0)[..., 0][skin]
    ratio = np.median(L1) / np.median(L0)
    assert np.std(L1) == pytest.approx(np.std(L0) * ratio, rel=0.15)  # texture contrast scaled, not flattened
    # skin already darker than any target is left alone
    dark = (rgb.astype(float) * 0.25).astype(np.uint8)
    same, none = bgm.shift_skin_tone(dark, skin, np.random.default_rng(5), ita_range=(40.0, 41.0))
    assert none is None and (same == dark).all()
