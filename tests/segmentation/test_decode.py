"""The shared decode path of every U-Net backend (numpy only): the decode rule, hysteresis, flips, the ambiguity map,
working size and padding, batches.

Exact expectations come from stand-in backends written in numpy: :class:`SoftmaxOfInput`, whose logits are its
normalised input, so that a pixel's class probabilities are the softmax of its colour, computed here by hand; and
:class:`Ramped`, whose logits also grow from left to right, so that a mirror image gives other probabilities."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vitiseg.segmentation.artifact import ModelConfig
from vitiseg.segmentation.decode import (
    NetworkSegmenter,
    decode_probs,
    network_input,
    pad_input,
    prepare_input,
    resize_probs,
)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class SoftmaxOfInput(NetworkSegmenter):
    """Backend whose logits are the normalised input: logit_c = (v_c / 255 - 0.5) / 0.25."""

    def __init__(self, **cfg) -> None:
        super().__init__(ModelConfig(name="colour-logits", input_long_side=128, **cfg), {})
        self.calls: list[tuple[int, ...]] = []

    def network_probs(self, x: np.ndarray) -> np.ndarray:
        self.calls.append(x.shape)
        return softmax(self.logits(x))

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x


class Ramped(SoftmaxOfInput):
    """Logits = normalised input + a left-to-right ramp on the depigmented class (not mirror-symmetric)."""

    def logits(self, x: np.ndarray) -> np.ndarray:
        ramp = np.linspace(-2, 2, x.shape[3], dtype=np.float32)
        out = x.copy()
        out[:, 2] += ramp
        out[:, 0] += np.linspace(0, 1, x.shape[2], dtype=np.float32)[:, None]  # and a top-to-bottom one
        return out


def softmax_of(rgb: tuple[int, int, int]) -> np.ndarray:
    z = np.array([(v / 255 - 0.5) / 0.25 for v in rgb])
    e = np.exp(z - z.max())
    return e / e.sum()


# block colours -> (expected class at threshold 0.5, ambiguous?);
# depigmented share p2 / (p1 + p2) = 1 / (1 + exp(4 (g - b) / 255))
BLOCKS = {
    (0, 100, 110): (2, True),  # share 0.539
    (0, 100, 200): (2, False),  # share 0.828
    (0, 150, 100): (1, True),  # share 0.313
    (0, 200, 50): (1, False),  # share 0.087
    (255, 0, 0): (0, False),  # background (share 0.5 but not skin)
}


def _block_image() -> np.ndarray:
    img = np.zeros((96, 128, 3), np.uint8)  # the working size and a multiple of 32: no resize, no padding
    for i, c in enumerate(BLOCKS):
        img[:, 25 * i:25 * (i + 1)] = c
    img[:, 125:] = (255, 0, 0)
    return img


def test_probabilities_classes_and_ambiguity_of_known_logits() -> None:
    seg = SoftmaxOfInput()
    img = _block_image()
    probs = seg.predict_probs(img)
    classes, amb = seg.predict_with_ambiguity(img)
    assert [round(float(1 / (1 + math.exp(4 * (g - b) / 255))), 3) for _, g, b in BLOCKS] == [0.539, 0.828, 0.313,
                                                                                               0.087, 0.5]
    for i, (c, (cls, ambiguous)) in enumerate(BLOCKS.items()):
        block = np.s_[:, 25 * i:25 * (i + 1)]
        np.testing.assert_allclose(probs[:, :, 25 * i:25 * (i + 1)],
                                   np.broadcast_to(softmax_of(c)[:, None, None], (3, 96, 25)), atol=1e-6)
        assert (classes[block] == cls).all() and (amb[block] == ambiguous).all(), c
    assert np.array_equal(classes, seg.predict(img))
    # the decision threshold moves the 0.539 block to healthy skin; ambiguity is the network's, not the threshold's
    strict = SoftmaxOfInput(depigmented_threshold=0.6)
    c6, amb6 = strict.predict_with_ambiguity(img)
    assert (c6[:, :25] == 1).all() and (c6[:, 25:50] == 2).all() and np.array_equal(amb6, amb)


def test_network_input_scales_each_channel_and_lays_out_nchw() -> None:
    img = np.zeros((32, 64, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 0, 128, 255
    x = network_input([img, img], np.array([0.5, 0.5, 0.5], np.float32), np.array([0.25, 0.5, 0.25], np.float32))
    assert x.shape == (2, 3, 32, 64) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(x[1, :, 5, 7], [-2.0, (128 / 255 - 0.5) / 0.5, 2.0], atol=1e-6)


def test_decode_rule() -> None:
    probs = np.array(
        [
            [[0.6, 0.2, 0.2, 0.1]],  # bg
            [[0.3, 0.5, 0.3, 0.45]],  # skin
            [[0.1, 0.3, 0.5, 0.45]],  # depig
        ]
    )
    # px0: bg 0.6 > 0.4 -> 0; px1: skin; px2: depig; px3: tie depig/skin -> depig (>= threshold)
    assert decode_probs(probs, 0.5).tolist() == [[0, 1, 2, 2]]
    assert decode_probs(probs, 0.6).tolist() == [[0, 1, 2, 1]]


def _two_class_probs(share: np.ndarray, bg: np.ndarray | None = None) -> np.ndarray:
    """(3, H, W) probabilities with skin mass 1 - bg split by the depigmented share ``share``."""
    bg = np.zeros_like(share) if bg is None else bg
    return np.stack([bg, (1 - bg) * (1 - share), (1 - bg) * share])


def test_hysteresis_decode_keeps_weak_pixels_connected_to_a_strong_one() -> None:
    share = np.array(
        [
            [0.9, 0.4, 0.4, 0.0, 0.45, 0.45],
            [0.0, 0.0, 0.35, 0.0, 0.0, 0.0],
            [0.3, 0.0, 0.0, 0.0, 0.6, 0.2],
        ]
    )
    probs = _two_class_probs(share)
    # plain rule: only the shares >= 0.5
    assert (decode_probs(probs, 0.5) == 2).astype(int).tolist() == [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0],
                                                                      [0, 0, 0, 0, 1, 0]]
    # low 0.3: the 0.4/0.4/0.35 chain joins the 0.9 core (8-connected, diagonal included); the 0.45 pair and the
    # lone 0.3 touch no pixel >= 0.5 and stay healthy; 0.2 is below the low threshold
    got = decode_probs(probs, 0.5, 0.3)
    assert (got == 2).astype(int).tolist() == [[1, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0]]
    assert (got >= 1).all()
    # high 0.7, low 0.5: the 0.6 pixel has no core >= 0.7 and is dropped
    assert (decode_probs(probs, 0.7, 0.5) == 2).astype(int).tolist() == [[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0],
                                                                          [0, 0, 0, 0, 0, 0]]
    # low == threshold (or None) is the plain rule
    assert np.array_equal(decode_probs(probs, 0.5, 0.5), decode_probs(probs, 0.5))


def test_hysteresis_does_not_connect_through_background() -> None:
    share = np.array([[0.9, 0.4, 0.4]])
    bg = np.array([[0.0, 0.9, 0.0]])  # the middle pixel is background
    assert decode_probs(_two_class_probs(share, bg), 0.5, 0.3).tolist() == [[2, 0, 1]]


def test_hysteresis_setting_reaches_the_classes() -> None:
    # the 0.828 block is strong, the 0.313 block beside it weak (>= 0.3): hysteresis joins them
    classes = SoftmaxOfInput(depigmented_threshold_low=0.3).predict(_block_image())
    assert (classes[:, :50] == 2).all() and (classes[:, 50:75] == 2).all() and (classes[:, 75:100] == 1).all()
    assert (SoftmaxOfInput().predict(_block_image())[:, 50:75] == 1).all()


def test_flip_average_is_the_mean_of_the_photo_and_its_mirror() -> None:
    plain, flip = Ramped(), Ramped(flip_average=True)
    # 128 x 96 is already the working size (long side 128) and a multiple of 32: no resize, no padding
    img = np.random.default_rng(5).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    want = (plain.predict_probs(img) + plain.predict_probs(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1]) / 2
    got = flip.predict_probs(img)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - plain.predict_probs(img)).max() > 1e-3  # the mirror changed something
    assert len(flip.calls) == 2  # one forward pass for the photo, one for its mirror
    # invariant: the flip-averaged prediction of the mirror image is the mirror of the prediction
    np.testing.assert_allclose(flip.predict_probs(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1], got, atol=1e-6)
    # batches (with padding: 100 x 70 -> working 128 x 90, padded to 128 x 96) equal single calls
    imgs = [np.random.default_rng(k).integers(0, 256, (70, 100, 3), dtype=np.uint8) for k in range(3)]
    assert all(np.array_equal(a, flip.predict(i)) for a, i in zip(flip.predict_batch(imgs), imgs))
    assert np.array_equal(flip.predict(img), decode_probs(got, 0.5))


def test_up_down_flips_average_four_mirror_images() -> None:
    plain, four = Ramped(), Ramped(flip_average=True, flip_average_up_down=True)
    img = np.random.default_rng(6).integers(0, 256, (96, 128, 3), dtype=np.uint8)  # working size, no padding

    def mirrored(rows, cols):
        return plain.predict_probs(np.ascontiguousarray(img[rows, cols]))[:, rows, cols]

    rev, keep = slice(None, None, -1), slice(None)
    want = (mirrored(keep, keep) + mirrored(keep, rev) + mirrored(rev, keep) + mirrored(rev, rev)) / 4
    got = four.predict_probs(img)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # invariant: predicting the up-down mirror gives the mirrored prediction
    np.testing.assert_allclose(four.predict_probs(np.ascontiguousarray(img[::-1]))[:, ::-1], got, atol=1e-6)


@pytest.mark.parametrize("shape", [(333, 517), (2000, 3000), (17, 5), (1, 1)])
def test_any_size_gives_a_class_mask_of_the_same_size(shape) -> None:
    seg = Ramped(flip_average=True, depigmented_threshold_low=0.3)
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = seg.predict(rgb)
    assert out.shape == shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}
    assert seg.calls[0][2] % 32 == 0 and seg.calls[0][3] % 32 == 0 and max(seg.calls[0][2:]) == 128


def test_batches_group_photos_of_one_working_shape_and_equal_single_calls() -> None:
    seg = Ramped(flip_average=True)
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in [(200, 300), (400, 600), (120, 90)]]
    single = [seg.predict(x) for x in imgs]
    seg.calls.clear()
    assert all(np.array_equal(a, b) for a, b in zip(seg.predict_batch(imgs), single))
    # 200x300 and 400x600 share the working shape 96x128 (85x128 padded): one pass (+ its mirror) for both
    assert sorted(seg.calls) == [(1, 3, 128, 96), (1, 3, 128, 96), (2, 3, 96, 128), (2, 3, 96, 128)]
    assert len({int((x == 2).sum()) for x in single}) > 1  # not a constant answer


def test_input_is_validated() -> None:
    seg = SoftmaxOfInput()
    with pytest.raises(ValueError):
        seg.predict(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        seg.predict(np.zeros((10, 10, 3), np.float32))


def test_working_size_padding_and_resizing() -> None:
    img = np.arange(70 * 100 * 3, dtype=np.uint32).reshape(70, 100, 3).astype(np.uint8)
    work, (h, w) = prepare_input(img, 128)
    assert (h, w) == (90, 128) and work.shape == (96, 128, 3)
    assert np.array_equal(work[90:93], work[88:85:-1])  # reflect-101 at the bottom
    same, hw = prepare_input(np.zeros((64, 96, 3), np.uint8), 96)
    assert hw == (64, 96) and same.shape == (64, 96, 3)
    assert pad_input(np.zeros((1, 1, 3), np.uint8)).shape == (32, 32, 3)  # replicated when too small to reflect
    p = np.random.default_rng(0).random((3, 4, 6)).astype(np.float32)
    assert resize_probs(p, (4, 6)) is p
    big = resize_probs(p, (8, 12))
    assert big.shape == (3, 8, 12)
    np.testing.assert_allclose(big[:, 1:7:2, 1:11:2].mean(), p.mean(), atol=0.05)
