"""The ONNX Runtime backend (the base install, no PyTorch) on the shipped model: it is what ``default`` runs, its
identity names the backend and both files' hashes, the file is checked against config.json, and its results do not
depend on batch size or thread count (what lets a run measure photos in threads)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from vitiseg.config import SegmentationConfig
from vitiseg.io.files import sha256_file
from vitiseg.segmentation.artifact import ModelError, default_model_dir, load_model_config
from vitiseg.segmentation.decode import network_input
from vitiseg.segmentation.load import load_segmenter, resolve_backend, thread_safe
from vitiseg.segmentation.onnx_runtime import OnnxSegmenter, cpu_session, has_onnx

from helpers import sample_photos

SHIPPED = default_model_dir()


@pytest.fixture(scope="module")
def shipped() -> OnnxSegmenter:
    return OnnxSegmenter.load(SHIPPED, threads=1)


def _copy(dst: Path, *skip: str) -> Path:
    shutil.copytree(SHIPPED, dst, ignore=shutil.ignore_patterns(*skip) if skip else None)
    return dst


def test_the_shipped_model_runs_on_onnx_runtime_by_default(shipped: OnnxSegmenter) -> None:
    assert SHIPPED.parent.name == "models" and SHIPPED.parent.parent.name == "vitiseg"  # package data
    cfg = load_model_config(SHIPPED)
    assert cfg.onnx is not None and cfg.onnx.opset == 18
    seg = load_segmenter(SegmentationConfig())
    assert isinstance(seg, OnnxSegmenter) and thread_safe(SegmentationConfig())
    ident = seg.identity
    assert ident["backend"] == "onnx" and ident["name"] == "vitiseg-unet-lite0-v2"
    assert ident["onnx_sha256"] == cfg.onnx.sha256 == sha256_file(SHIPPED / "model.onnx")
    assert ident["sha256"] == cfg.onnx.weights_sha256 == sha256_file(SHIPPED / "model.safetensors")
    assert ident == shipped.identity
    photo = sample_photos(1)[0][1]
    classes = seg.predict(photo)
    assert classes.shape == photo.shape[:2] and set(np.unique(classes)) <= {0, 1, 2}
    assert 0.05 < (classes >= 1).mean() < 0.99  # a real model on a real photo finds skin and background


def test_results_do_not_depend_on_batch_size_or_threads(shipped: OnnxSegmenter) -> None:
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(3)]
    norm = shipped.cfg.input_norm
    x = network_input(imgs, np.float32(norm.mean), np.float32(norm.std))
    one = np.concatenate([shipped.network_probs(x[i:i + 1]) for i in range(3)])
    two_threads = OnnxSegmenter(cpu_session(SHIPPED / "model.onnx", 2), shipped.cfg, shipped.identity)
    assert np.array_equal(shipped.network_probs(x), one)
    assert np.array_equal(two_threads.network_probs(x), one)
    np.testing.assert_allclose(one.sum(axis=1), 1.0, atol=1e-5)  # the graph ends in its softmax
    photos = [p for _, p in sample_photos(3)]
    assert all(np.array_equal(a, shipped.predict(p)) for a, p in zip(two_threads.predict_batch(photos), photos))


def test_the_onnx_file_is_checked_against_config_json(tmp_path: Path) -> None:
    bad = _copy(tmp_path / "bad")
    data = bytearray((bad / "model.onnx").read_bytes())
    data[-1] ^= 1
    (bad / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="SHA-256 .* re-export it: vitiseg model export"):
        OnnxSegmenter.load(bad)
    stale = _copy(tmp_path / "stale")
    with open(stale / "model.safetensors", "ab") as f:  # the weights changed after the export
        f.write(b"\0")
    with pytest.raises(ModelError, match="exported from other weights"):
        OnnxSegmenter.load(stale)
    gone = _copy(tmp_path / "gone", "model.onnx")
    with pytest.raises(ModelError, match="ONNX file not found"):
        load_segmenter(SegmentationConfig(model=str(gone), backend="onnx"))
    cfg = json.loads((gone / "config.json").read_text())
    cfg["onnx"] = None
    (gone / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="records no ONNX export"):
        OnnxSegmenter.load(gone)
    with pytest.raises(ModelError, match="runs on the CPU"):
        OnnxSegmenter.load(SHIPPED, device="cuda")


def test_an_onnx_only_folder_is_identified_by_the_weights_it_came_from(tmp_path: Path,
                                                                      shipped: OnnxSegmenter) -> None:
    only = _copy(tmp_path / "only", "model.safetensors")
    seg = OnnxSegmenter.load(only)
    assert seg.identity["sha256"] == shipped.identity["sha256"]
    photo = sample_photos(1)[0][1]
    assert np.array_equal(seg.predict(photo), shipped.predict(photo))


def test_backend_choice(tmp_path: Path) -> None:
    assert has_onnx(SHIPPED) and resolve_backend("auto", SHIPPED) == "onnx"
    assert resolve_backend("auto", SHIPPED, device="cuda") == "torch"  # ONNX Runtime runs on the CPU here
    assert resolve_backend("torch", SHIPPED) == "torch"
    gone = _copy(tmp_path / "gone", "model.onnx")
    assert not has_onnx(gone) and resolve_backend("auto", gone) == "torch"
    assert not thread_safe(SegmentationConfig(model=str(gone)))


def test_a_missing_model_is_an_error_never_a_weaker_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VITISEG_MODEL_DIR", str(tmp_path / "none"))
    with pytest.raises(ModelError, match="the shipped model not found: .*--model classical"):
        load_segmenter(SegmentationConfig())
    with pytest.raises(ModelError, match="model folder not found"):
        load_segmenter(SegmentationConfig(model=str(tmp_path / "nothing")))
    assert load_segmenter(SegmentationConfig(model="classical")).identity["kind"] == "classical"  # on request only


def test_without_pytorch_a_folder_without_onnx_says_what_to_install(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "torch", None)  # as in the base install
    gone = _copy(tmp_path / "gone", "model.onnx")
    with pytest.raises(ModelError, match=r"needs torch \(pip install 'vitiseg\[train\]'\), or give the model an ONNX "
                                         r"file: vitiseg model export"):
        load_segmenter(SegmentationConfig(model=str(gone)))
