"""Colour refinement of the U-Net probabilities and its place in a model folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitiseg.segmentation.artifact import with_refinement
from vitiseg.segmentation.refine import RefineConfig, load_refine_config, refine_probs
from vitiseg.segmentation.decode import decode_probs, prepare_input, resize_probs

from helpers import assert_config_error, save_tiny_unet

HEALTHY = (176, 124, 96)  # tan skin, sRGB
LESION = (236, 214, 200)  # milky white


def _scene(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60x60 photo: background strip (rows 0-9, lesion-coloured), healthy skin, one 20x20 lesion (rows 20-39,
    cols 20-39). The 'network' is sure of the lesion's left half (u = 0.95), leans healthy on its right half
    (u = 0.3) and is sure of healthy skin (u = 0.05). Returns (rgb, probs, true classes)."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((60, 60, 3), np.float64)
    rgb[:] = HEALTHY
    rgb[20:40, 20:40] = LESION
    rgb[:10] = LESION
    rgb = np.clip(rgb + rng.normal(0, 2.0, rgb.shape), 0, 255).astype(np.uint8)
    u = np.full((60, 60), 0.05, np.float32)
    u[20:40, 20:30] = 0.95
    u[20:40, 30:40] = 0.3
    bg = np.zeros((60, 60), np.float32)
    bg[:10] = 0.9
    s = 1 - bg
    probs = np.stack([bg, s * (1 - u), s * u])
    truth = np.ones((60, 60), np.uint8)
    truth[20:40, 20:40] = 2
    truth[:10] = 0
    return rgb, probs, truth


def test_refinement_recovers_the_missed_half_of_a_lesion_exactly():
    rgb, probs, truth = _scene()
    assert (decode_probs(probs) == 2).sum() == 200  # the network alone: half of the 400 lesion pixels
    out, info = refine_probs(rgb, probs, RefineConfig())
    assert info.applied and info.skin_px == 3000
    assert info.depig_seed_px == 18 * 8  # 20x10 confident block eroded by 1 px
    assert np.array_equal(decode_probs(out), truth)
    # background untouched (although lesion-coloured), per-pixel sums kept
    assert np.array_equal(out[:, :10], probs[:, :10]) and np.array_equal(out[0], probs[0])
    np.testing.assert_allclose(out.sum(0), probs.sum(0), atol=1e-6)


def test_gate_returns_the_input_unchanged():
    rgb, probs, _ = _scene()
    # 144 depigmented seeds = 4.8 % of 3000 skin pixels: a 5 % gate does not open
    out, info = refine_probs(rgb, probs, RefineConfig(min_seed_share=0.05))
    assert not info.applied and out.dtype == np.float32 and np.array_equal(out, probs)
    # a lesion-free photo (no confident depigmented pixel) is never refined
    none = probs.copy()
    none[2] = np.minimum(none[2], 0.1 * (none[1] + none[2]))
    none[1] = (1 - none[0]) - none[2]
    out, info = refine_probs(rgb, none, RefineConfig(min_seed_share=0.0))
    assert not info.applied and info.depig_seed_px == 0 and np.array_equal(out, none)


def test_weight_scales_the_colour_evidence():
    rgb, probs, _ = _scene()
    weak, _ = refine_probs(rgb, probs, RefineConfig(weight=1e-6))
    np.testing.assert_allclose(weak, probs, atol=1e-4)
    half = probs[2, 20:40, 30:40] / (probs[1, 20:40, 30:40] + probs[2, 20:40, 30:40])
    strong, _ = refine_probs(rgb, probs, RefineConfig(weight=0.5))
    u = strong[2, 20:40, 30:40] / (strong[1, 20:40, 30:40] + strong[2, 20:40, 30:40])
    assert (u > half).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 5.0), st.integers(0, 2))
def test_invariants_on_random_inputs(seed, weight, erode):
    rng = np.random.default_rng(seed)
    h, w = int(rng.integers(8, 40)), int(rng.integers(8, 40))
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    logits = rng.normal(0, 3, (3, h, w))
    probs = (np.exp(logits) / np.exp(logits).sum(0)).astype(np.float32)
    cfg = RefineConfig(weight=weight, erode_px=erode, min_seed_share=0.0, min_seed_px=3)
    out, info = refine_probs(rgb, probs, cfg)
    assert out.shape == probs.shape and out.dtype == np.float32
    assert np.array_equal(out[0], probs[0])
    np.testing.assert_allclose(out.sum(0), probs.sum(0), atol=1e-5)
    assert (out >= 0).all() and (out <= 1 + 1e-6).all()
    # the skin/background decision never changes
    assert np.array_equal(decode_probs(out) == 0, decode_probs(probs) == 0)


def test_inputs_validated():
    rgb, probs, _ = _scene()
    with pytest.raises(ValueError, match="uint8"):
        refine_probs(rgb.astype(np.float32), probs, RefineConfig())
    with pytest.raises(ValueError, match="do not match"):
        refine_probs(rgb[:50], probs, RefineConfig())


def test_config_file_strict(tmp_path: Path) -> None:
    good = tmp_path / "ok.yaml"
    good.write_text("method: colour_gaussian\nweight: 2.0\nseed_high: 0.8\nseed_low: 0.2\n")
    assert load_refine_config(good) == RefineConfig()
    good.write_text("weight: 0.5\nerode_px: 0\n")
    assert load_refine_config(good) == RefineConfig(weight=0.5, erode_px=0)
    bad = tmp_path / "r.yaml"
    for text, match in (("method: colour_gaussian\nwieght: 2.0\n", "unknown key 'wieght'"),
                        ("seed_low: 0.4\nseed_high: 0.6\nmin_seed_share: 2\n", "min_seed_share"),
                        ("seed_high: 0.5\n", "seed_high")):  # seeds must lie on either side of 0.5
        assert_config_error(load_refine_config, bad, text, match)


REF = RefineConfig(min_seed_share=0.0, min_seed_px=3, seed_high=0.51, seed_low=0.49, erode_px=0)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path]:
    """The same tiny random network saved without and (via with_refinement) with refinement, working size 64."""
    d = tmp_path_factory.mktemp("m")
    save_tiny_unet(d / "plain", input_long_side=64)
    with_refinement(d / "plain", d / "ref", REF)
    return d / "plain", d / "ref"


@pytest.mark.torch
def test_segmenter_refines_at_the_working_size(pair) -> None:
    from vitiseg.segmentation.unet import UNetSegmenter

    plain_dir, ref_dir = pair
    a, b = UNetSegmenter.load(plain_dir, device="cpu"), UNetSegmenter.load(ref_dir, device="cpu")
    rng = np.random.default_rng(7)
    imgs = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in [(90, 120), (64, 64), (130, 70)]]
    changed = 0
    for img in imgs:
        classes = b.predict(img)
        # the network's probabilities are the same; the classes are those of the refined working-size probabilities
        np.testing.assert_array_equal(b.predict_probs(img, refine=False), a.predict_probs(img))
        work, (h, w) = prepare_input(img, 64)
        crop = np.ascontiguousarray(work[:h, :w])
        raw = a.predict_probs(crop)  # already the working size: the network's own working-size probabilities
        want = decode_probs(resize_probs(refine_probs(crop, raw, REF)[0], img.shape[:2]))
        assert np.array_equal(classes, want)
        assert np.array_equal(decode_probs(b.predict_probs(img)), classes)
        changed += int((classes != a.predict(img)).sum())
        # ambiguity comes from the network's own probabilities: identical map with and without refinement
        c2, amb_b = b.predict_with_ambiguity(img)
        _, amb_a = a.predict_with_ambiguity(img)
        assert np.array_equal(c2, classes) and np.array_equal(amb_a, amb_b)
        assert np.array_equal(classes == 0, a.predict(img) == 0)
    assert changed > 0  # the refinement did something on these inputs
    batch = b.predict_batch(imgs)
    assert all(np.array_equal(x, b.predict(i)) for x, i in zip(batch, imgs))
