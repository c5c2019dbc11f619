"""One synthetic sample: exact class masks and truth, lesions only on skin, determinism, appearance limits."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.synth import backgrounds as bgm
from vitiseg.synth.render import DL_MIN, RHO_MAX, render_sample, sample_appearance
from vitiseg.synth.shapes import KINDS, classes_from_alpha, depigmentation_alpha, follicle_map, make_layout


def _bg(part: str = "face", size: int = 128, seed: int = 0):
    return bgm.procedural_background(part, size, np.random.default_rng(seed))


@pytest.mark.parametrize("kind", KINDS)
def test_render_masks_exact_and_only_on_skin(kind):
    rgb, skin = _bg("face" if kind == "periorificial" else "trunk", 128, 1)
    out, cls, truth = render_sample(rgb, skin, np.random.default_rng(7), target_fraction=0.25, kind=kind)
    assert out.shape == rgb.shape and out.dtype == np.uint8 and cls.dtype == np.uint8
    assert set(np.unique(cls)) <= {0, 1, 2}
    assert np.array_equal(cls > 0, skin)  # skin exactly = classes 1 + 2; class 2 never off skin
    assert (cls == 2).any()
    counts = np.bincount(cls.ravel(), minlength=3)
    assert truth["area_px"] == {"background": counts[0], "skin": counts[1], "depigmented": counts[2]}
    assert truth["skin_px"] == counts[1] + counts[2] and truth["depigmented_px"] == counts[2]
    assert truth["fraction"] == counts[2] / (counts[1] + counts[2])


def test_lesion_pixels_are_modulated_and_background_untouched():
    rgb, skin = _bg("hand", 128, 2)
    out, cls, _ = render_sample(rgb, skin, np.random.default_rng(3), target_fraction=0.3, photo_strength=0.0)
    assert np.array_equal(out[~skin], rgb[~skin])  # no camera model: off-skin pixels bit-identical
    painted, source = out[cls == 2].astype(float).mean(1), rgb[cls == 2].astype(float).mean(1)
    assert painted.mean() > source.mean() + 5  # depigmented = lighter
    # the skin's own texture is kept under the lesion: pixel by pixel, the painted brightness follows the source's
    assert np.corrcoef(painted, source)[0, 1] > 0.9 and source.std() > 10


def test_lesion_free_twin_differs_only_by_the_painting():
    rgb, skin = _bg("trunk", 128, 6)
    for strength in (0.0, 1.0):
        out, cls, truth = render_sample(rgb, skin, np.random.default_rng(9), target_fraction=0.3,
                                        photo_strength=strength)
        twin, cls2, truth2 = render_sample(rgb, skin, np.random.default_rng(9), target_fraction=0.3,
                                           photo_strength=strength, paint_lesions=False)
        assert np.array_equal(cls, cls2) and truth == truth2 and (cls == 2).any()
        if strength == 0.0:
            assert np.array_equal(twin, rgb)  # nothing painted, no camera model
        differs = (out != twin).any(-1)
        if truth["photo"]["blur_sigma"] == 0:  # same noise: only painted pixels (alpha > 0, a few px past class 2) differ
            assert differs[cls == 2].mean() > 0.95 and not differs[~skin].any()


def test_alpha_threshold_rule_is_exact():
    rgb, skin = _bg("trunk", 96, 4)
    rng = np.random.default_rng(5)
    lay = make_layout(skin, rng, "blobs", follicle_density=3.0)
    lay.trichrome_px, lay.trichrome_in, lay.trichrome_out = 3.0, 0.6, 0.4
    isl = follicle_map(lay, skin.shape)
    alpha = depigmentation_alpha(lay, skin, 0.6, isl)
    core = skin & (lay.field > 0.6)
    cls = classes_from_alpha(alpha, skin)
    assert np.array_equal(cls == 2, core & (alpha >= 0.5))
    assert not (cls == 2)[~core].any()  # trichrome outer band / soft border never counted
    assert (alpha[~skin] == 0).all()
    assert ((cls == 1) & core).any()  # pigment islands inside the lesion are healthy skin


def test_exact_target_fraction():
    rgb, skin = _bg("limb", 160, 6)
    for target in (0.003, 0.2, 0.8):
        _, cls, truth = render_sample(rgb, skin, np.random.default_rng(8), target_fraction=target, exact=True)
        assert abs(truth["fraction"] - target) <= 0.001 * target + 2 / truth["skin_px"]


def test_same_seed_same_bytes_and_seed_matters():
    rgb, skin = _bg("face", 128, 9)
    a = render_sample(rgb, skin, np.random.default_rng(11), jpeg=True)
    b = render_sample(rgb, skin, np.random.default_rng(11), jpeg=True)
    c = render_sample(rgb, skin, np.random.default_rng(12), jpeg=True)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]
    assert not np.array_equal(a[1], c[1]) or not np.array_equal(a[0], c[0])


def test_zero_target_gives_no_lesion():
    rgb, skin = _bg("hand", 96, 1)
    _, cls, truth = render_sample(rgb, skin, np.random.default_rng(0), target_fraction=0.0)
    assert truth["depigmented_px"] == 0 and not (cls == 2).any()


def test_appearance_constraints():
    rng = np.random.default_rng(0)
    for ita in (-50.0, -20.0, 0.0, 30.0, 60.0, float("nan")):
        for _ in range(200):
            p = sample_appearance(ita, rng)
            assert p.dL >= DL_MIN and p.rho <= RHO_MAX
