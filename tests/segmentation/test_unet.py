"""The PyTorch backend (vitiseg[train]): a model folder's decode settings reach its identity and the shared decode
path; the backend is that path's (mirror passes of a real network); any size in, classes out; deterministic; batches
equal single calls. The decode path itself is tested with numpy stand-in backends in test_decode.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from vitiseg.segmentation.artifact import ModelError  # noqa: E402
from vitiseg.segmentation.decode import decode_probs  # noqa: E402
from vitiseg.segmentation.unet import UNetSegmenter  # noqa: E402

from helpers import save_tiny_unet  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("unet")
    save_tiny_unet(d)
    return d


def _with(src: Path, dst: Path, **changes) -> Path:
    dst.mkdir(exist_ok=True)
    (dst / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(changes)
    (dst / "config.json").write_text(json.dumps(cfg))
    return dst


def test_decode_settings_reach_the_identity(tiny: Path, tmp_path: Path) -> None:
    plain = UNetSegmenter.load(tiny, device="cpu")
    hyst = UNetSegmenter.load(_with(tiny, tmp_path / "h", depigmented_threshold_low=0.3), device="cpu")
    assert plain.identity["backend"] == "torch" and "onnx_sha256" not in plain.identity
    assert "depigmented_threshold_low" not in plain.identity  # older run folders keep their resume key
    assert hyst.identity["depigmented_threshold_low"] == 0.3
    img = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    assert np.array_equal(hyst.predict(img), decode_probs(plain.predict_probs(img), 0.5, 0.3))


def test_flip_average_of_a_real_network(tiny: Path, tmp_path: Path) -> None:
    plain = UNetSegmenter.load(tiny, device="cpu")
    flip = UNetSegmenter.load(_with(tiny, tmp_path / "f", flip_average=True), device="cpu")
    assert flip.identity["flip_average"] is True and "flip_average" not in plain.identity
    # 128 x 96 is already the working size (long side 128) and a multiple of 32: no resize, no padding
    img = np.random.default_rng(5).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    want = (plain.predict_probs(img) + plain.predict_probs(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1]) / 2
    got = flip.predict_probs(img)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - plain.predict_probs(img)).max() > 1e-3  # the mirror changed something
    imgs = [np.random.default_rng(k).integers(0, 256, (70, 100, 3), dtype=np.uint8) for k in range(3)]
    assert all(np.array_equal(a, flip.predict(i)) for a, i in zip(flip.predict_batch(imgs), imgs))
    four = UNetSegmenter.load(_with(tiny, tmp_path / "f4", flip_average=True, flip_average_up_down=True),
                              device="cpu")
    assert four.identity["flip_average_up_down"] is True
    np.testing.assert_allclose(four.predict_probs(np.ascontiguousarray(img[::-1]))[:, ::-1], four.predict_probs(img),
                               atol=1e-6)
    with pytest.raises(ModelError, match="flip_average_up_down needs flip_average"):
        UNetSegmenter.load(_with(tiny, tmp_path / "bad", flip_average_up_down=True), device="cpu")


@pytest.mark.parametrize("shape", [(333, 517), (17, 5), (1, 1)])
def test_any_size_gives_a_class_mask_of_the_same_size(tiny: Path, shape) -> None:
    seg = UNetSegmenter.load(tiny, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = seg.predict(rgb)
    assert out.shape == shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}


def test_deterministic_and_batch_equals_single(tiny: Path) -> None:
    seg = UNetSegmenter.load(tiny, device="cpu")
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in [(200, 300), (400, 600), (120, 90)]]
    a = [seg.predict(x) for x in imgs]
    c = seg.predict_batch(imgs)
    e = [UNetSegmenter.load(tiny, device="cpu").predict(x) for x in imgs]
    for x, z, w in zip(a, c, e):
        assert np.array_equal(x, z) and np.array_equal(x, w)
    assert len({int((x == 2).sum()) for x in a}) > 1  # not a constant answer
    p = seg.predict_probs(imgs[0])
    assert p.shape == (3, 200, 300)
    np.testing.assert_allclose(p.sum(0), 1.0, atol=1e-4)
