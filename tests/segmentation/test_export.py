"""`vitiseg model export`: model.onnx beside model.safetensors, recorded in config.json, equal to PyTorch; and a
clear one-line error without PyTorch."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from vitiseg.cli import main as cli_main
from vitiseg.config import SegmentationConfig
from vitiseg.io.files import sha256_file
from vitiseg.segmentation.artifact import load_model_config
from vitiseg.segmentation.load import load_segmenter

from helpers import save_tiny_unet


@pytest.mark.torch
def test_export_writes_records_and_matches_pytorch(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    d = tmp_path / "m"
    weights = save_tiny_unet(d, flip_average=True, depigmented_threshold_low=0.3)
    assert cli_main(["model", "export", str(d)]) == 0
    cfg = load_model_config(d)
    assert cfg.onnx is not None and cfg.onnx.opset == 18 and cfg.onnx.weights_sha256 == weights
    assert cfg.onnx.sha256 == sha256_file(d / "model.onnx") and cfg.onnx.sha256 in capsys.readouterr().out
    onnx = load_segmenter(SegmentationConfig(model=str(d)), threads=1)  # auto: the ONNX file now
    torch = load_segmenter(SegmentationConfig(model=str(d), backend="torch", device="cpu"), threads=1)
    assert onnx.identity["backend"] == "onnx" and onnx.identity["onnx_sha256"] == cfg.onnx.sha256
    rng = np.random.default_rng(0)
    for shape in [(96, 128), (300, 170), (41, 77)]:  # dynamic height and width, padding, up- and downscaling
        img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        np.testing.assert_allclose(onnx.predict_probs(img), torch.predict_probs(img), atol=1e-5)


@pytest.mark.torch
def test_new_weights_drop_a_stale_export(tmp_path: Path) -> None:
    d = tmp_path / "m"
    save_tiny_unet(d)
    assert cli_main(["model", "export", str(d)]) == 0
    save_tiny_unet(d)  # e.g. a training run writing best/ again
    assert load_model_config(d).onnx is None and not (d / "model.onnx").exists()
    assert load_segmenter(SegmentationConfig(model=str(d), device="cpu")).identity["backend"] == "torch"


def test_export_without_pytorch_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # as in the base install
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"name": "x"}))
    assert cli_main(["model", "export", str(d)]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        "vitiseg model export needs PyTorch and onnx (torch): pip install 'vitiseg[train]'"]
    assert not (d / "model.onnx").exists()
