"""The shipped model's ONNX file against its PyTorch weights on a few photos of different sizes, as `vitiseg run`
measures them (the full check on 50 photos is scripts/check_onnx.py); and the comparison itself."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.config import SegmentationConfig
from vitiseg.evaluation.backend_agreement import Agreement, agreement_photos, compare
from vitiseg.pipeline.provenance import model_key
from vitiseg.segmentation.load import load_segmenter

from helpers import KeySegmenter, key_photo, sample_photos


@pytest.mark.torch
def test_onnx_and_pytorch_masks_of_the_shipped_model_agree() -> None:
    onnx = load_segmenter(SegmentationConfig(backend="onnx"), threads=1)
    torch = load_segmenter(SegmentationConfig(backend="torch", device="cpu"), threads=1)
    assert (onnx.identity["backend"], torch.identity["backend"]) == ("onnx", "torch")
    assert onnx.identity["sha256"] == torch.identity["sha256"]  # one model, two runtimes
    assert model_key(onnx.identity) != model_key(torch.identity)  # a run resumed on the other backend redoes photos
    rows = compare(onnx, torch, sample_photos(4, seed=1))
    assert len({r.shape for r in rows}) == 4
    for r in rows:
        assert r.pixels >= 0.999 and r.fraction_diff_pp <= 0.1, r
    assert any(r.fraction_a > 0.01 for r in rows)  # lesions were measured, not only empty skin


def test_compare_counts_disagreeing_pixels_and_fraction_points() -> None:
    rgb, _ = key_photo(100, 120, (10, 90, 10, 110), [(10, 30, 10, 110)])  # skin 8000 px, depigmented 2000 px

    class Shifted(KeySegmenter):
        def predict(self, rgb: np.ndarray) -> np.ndarray:
            out = super().predict(rgb)
            out[30:40, 10:110] = 2  # 1000 more depigmented px
            return out

    (row,) = compare(KeySegmenter(), Shifted(), [("key", rgb)])
    assert (row.name, row.shape, row.fraction_a, row.fraction_b) == ("key", (100, 120), 0.25, 0.375)
    assert row.pixels == pytest.approx(11000 / 12000) and row.fraction_diff_pp == pytest.approx(12.5)
    assert Agreement("none", (1, 1), 1.0, float("nan"), float("nan")).fraction_diff_pp == 0.0


def test_photos_are_of_different_sizes_and_reproducible() -> None:
    a, b = agreement_photos(None, 5, seed=3), agreement_photos(None, 5, seed=3)
    assert [n for n, _ in a] == [n for n, _ in b] and all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b))
    assert len({p.shape for _, p in a}) == 5 and all(n.startswith("procedural/") for n, _ in a)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and 200 <= max(p.shape[:2]) <= 2400 for _, p in a)
