"""Model folders: strict loading, hashes, fp16 storage, weight averaging and refinement copies."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch
from safetensors.torch import load_file, save_file

from vitiseg.io.files import sha256_file
from vitiseg.segmentation.artifact import (
    ModelConfig,
    ModelError,
    OnnxExport,
    average_artifacts,
    build_network,
    default_model_dir,
    load_model_config,
    save_artifact,
    with_refinement,
    write_model_config,
)
from vitiseg.segmentation.refine import RefineConfig
from vitiseg.segmentation.unet import UNetSegmenter

from helpers import save_tiny_unet, small_arch, tiny_network

BN_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    net = tiny_network(seed=0, bn_stats=True)
    cfg = ModelConfig(name="tiny-test", architecture=small_arch(), input_long_side=128)
    d = tmp_path_factory.mktemp("model")
    sha = save_artifact(d, net, cfg, card="# tiny\n")
    return d, net, sha


def _copy_artifact(src: Path, dst: Path) -> None:
    dst.mkdir(exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        (dst / f).write_bytes((src / f).read_bytes())


def test_round_trip_is_exact_including_batchnorm_statistics(artifact) -> None:
    d, net, sha = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    assert seg.identity["sha256"] == sha == sha256_file(d / "model.safetensors")
    assert (seg.identity["kind"], seg.identity["encoder"], seg.identity["name"]) == ("unet", "mobilenet_v2",
                                                                                     "tiny-test")
    saved, loaded = net.state_dict(), seg.net.state_dict()
    assert saved.keys() == loaded.keys()
    for k, v in saved.items():
        assert torch.equal(v, loaded[k]), k
    # the BatchNorm buffers that went through the file are not their defaults (0, 1, 0): a save or load that drops
    # them, or resets them, would fail above
    bn = {k: v for k, v in loaded.items() if k.endswith(BN_BUFFERS)}
    assert len(bn) > 100
    for k, v in bn.items():
        default = {"running_mean": 0.0, "running_var": 1.0, "num_batches_tracked": 0}[k.rsplit(".", 1)[1]]
        assert not torch.all(v == default), k
    # and they matter: the same weights with default statistics predict other probabilities
    img = np.random.default_rng(1).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    fresh = build_network(small_arch()).eval()
    fresh.load_state_dict({k: v for k, v in saved.items() if not k.endswith(BN_BUFFERS)}, strict=False)
    reset = UNetSegmenter(fresh, seg.cfg, {}, torch.device("cpu"))
    assert np.abs(reset.predict_probs(img) - seg.predict_probs(img)).max() > 1e-3
    same = UNetSegmenter(net, seg.cfg, {}, torch.device("cpu"))
    np.testing.assert_array_equal(same.predict_probs(img), seg.predict_probs(img))
    assert (d / "README.md").read_text() == "# tiny\n"
    assert json.loads((d / "config.json").read_text())["name"] == "tiny-test"


def test_fp16_weights_load_back_as_fp32(tmp_path: Path) -> None:
    net = tiny_network(seed=1)
    save_tiny_unet(tmp_path, net, weights_dtype="float16")
    stored = load_file(str(tmp_path / "model.safetensors"))
    assert stored["segmentation_head.0.weight"].dtype == torch.float16
    assert stored["encoder.features.0.1.num_batches_tracked"].dtype == torch.int64  # counters stay integers
    seg = UNetSegmenter.load(tmp_path, device="cpu")
    for k, v in seg.net.state_dict().items():
        want = net.state_dict()[k]
        if v.is_floating_point():
            assert v.dtype == torch.float32 and torch.equal(v, want.half().float()), k
        else:
            assert torch.equal(v, want), k


@pytest.mark.parametrize("damage,message", [
    (lambda sd: sd.update({"unexpected.weight": torch.zeros(3)}), "unexpected"),
    (lambda sd: sd.pop("segmentation_head.0.bias"), "Missing"),
    (lambda sd: sd.update({"segmentation_head.0.bias": torch.zeros(4)}), "size mismatch"),
])
def test_weights_that_do_not_match_fail(artifact, tmp_path, damage, message) -> None:
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    damage(sd)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match=message):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_config_mismatching_weights_fails(artifact, tmp_path) -> None:
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["architecture"]["decoder_channels"] = [64, 16, 16, 8, 8]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="do not match config.json"):
        UNetSegmenter.load(tmp_path, device="cpu")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(extra_key=1),
        lambda c: c.update(classes=["bg", "skin", "lesion"]),
        lambda c: c.update(input_long_side=100),
        lambda c: c["architecture"].update(encoder_weights="imagenet"),
        lambda c: c["colour_normalisation"].update(method="retinex"),
        lambda c: c.update(depigmented_threshold_low=0.6),  # above depigmented_threshold (0.5)
    ],
)
def test_invalid_config_rejected(artifact, tmp_path, mutate) -> None:
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    mutate(cfg)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="invalid model config"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_missing_or_unreadable_files_fail(artifact, tmp_path) -> None:
    with pytest.raises(ModelError, match="not found"):
        UNetSegmenter.load(tmp_path, device="cpu")
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    (tmp_path / "config.json").write_text("{nope")
    with pytest.raises(ModelError, match="not valid JSON"):
        UNetSegmenter.load(tmp_path, device="cpu")
    _copy_artifact(d, tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="cannot read weights"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_default_model_dir_env_override(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("VITISEG_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path
    monkeypatch.delenv("VITISEG_MODEL_DIR")
    assert default_model_dir().parent.name == "models" and default_model_dir().name == "vitiseg-unet-lite0-v2"
    assert default_model_dir().parent.parent.name == "vitiseg"  # package data: travels with the package


def test_shipped_model_loads_if_present() -> None:
    d = default_model_dir()
    if not (d / "config.json").is_file():
        pytest.skip("no shipped model")
    seg = UNetSegmenter.load(d, device="cpu")
    assert (d / "model.safetensors").stat().st_size < 30 * 1024 * 1024
    assert seg.identity["sha256"] == sha256_file(d / "model.safetensors")
    out = seg.predict(np.full((240, 320, 3), 128, np.uint8))
    assert out.shape == (240, 320) and set(np.unique(out)) <= {0, 1, 2}


def test_average_artifacts_exact(tmp_path) -> None:
    dirs = []
    for i in range(3):
        net = tiny_network(seed=10 + i)
        with torch.no_grad():  # distinct batch counters per input
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.num_batches_tracked.fill_(i + 1)
        save_tiny_unet(tmp_path / f"m{i}", net, name=f"m{i}", input_long_side=64, training={"epoch": i})
        dirs.append(tmp_path / f"m{i}")
    sha = average_artifacts(dirs, tmp_path / "avg")
    assert sha == sha256_file(tmp_path / "avg" / "model.safetensors")
    ins = [load_file(str(d / "model.safetensors")) for d in dirs]
    out = load_file(str(tmp_path / "avg" / "model.safetensors"))
    assert out.keys() == ins[0].keys()
    for k, v in out.items():
        if v.is_floating_point():
            want = (ins[0][k].double() + ins[1][k].double() + ins[2][k].double()) / 3
            assert torch.equal(v, want.float()), k
        else:
            assert torch.equal(v, ins[2][k]), k  # counters from the last input
    cfg = json.loads((tmp_path / "avg" / "config.json").read_text())
    assert cfg["name"] == "m2" and cfg["training"]["epoch"] == 2
    assert [e["sha256"] for e in cfg["training"]["weight_average_of"]] == [sha256_file(d / "model.safetensors")
                                                                           for d in dirs]
    UNetSegmenter.load(tmp_path / "avg", device="cpu")  # loads strictly
    save_tiny_unet(tmp_path / "x", input_long_side=96)
    with pytest.raises(ModelError, match="input_long_side"):
        average_artifacts([dirs[0], tmp_path / "x"], tmp_path / "bad")
    with pytest.raises(ModelError, match="at least two"):
        average_artifacts(dirs[:1], tmp_path / "bad")


def test_with_refinement_copies_weights_and_records_source(artifact, tmp_path) -> None:
    plain, _, sha = artifact
    ref = RefineConfig(min_seed_share=0.0, min_seed_px=3, seed_high=0.51, seed_low=0.49, erode_px=0)
    assert with_refinement(plain, tmp_path / "ref", ref) == sha
    assert (tmp_path / "ref" / "model.safetensors").read_bytes() == (plain / "model.safetensors").read_bytes()
    cfg = json.loads((tmp_path / "ref" / "config.json").read_text())
    assert cfg["refinement"] == ref.model_dump()
    assert cfg["training"]["refinement_from"] == {"path": str(plain), "sha256": sha}
    assert not (tmp_path / "ref" / "README.md").exists()  # the card is not copied
    seg = UNetSegmenter.load(tmp_path / "ref", device="cpu")
    assert seg.identity["refinement"] == ref.model_dump() and seg.identity["sha256"] == sha
    assert UNetSegmenter.load(plain, device="cpu").identity["refinement"] is None
    assert with_refinement(tmp_path / "ref", tmp_path / "off", None) == sha
    assert json.loads((tmp_path / "off" / "config.json").read_text())["refinement"] is None


def _pretend_exported(d: Path) -> OnnxExport:
    """Record an ONNX file in ``d`` as `vitiseg model export` would (the bytes are not a network: nothing runs it)."""
    (d / "model.onnx").write_bytes(b"onnx bytes of " + d.name.encode())
    rec = OnnxExport(sha256=sha256_file(d / "model.onnx"), weights_sha256=sha256_file(d / "model.safetensors"),
                     opset=18)
    write_model_config(d, load_model_config(d).model_copy(update={"onnx": rec}))
    return rec


def test_an_onnx_record_follows_the_network_it_describes(tmp_path) -> None:
    dirs = []
    for i in range(2):
        save_tiny_unet(tmp_path / f"m{i}", tiny_network(seed=20 + i), input_long_side=64)
        _pretend_exported(tmp_path / f"m{i}")
        dirs.append(tmp_path / f"m{i}")
    average_artifacts(dirs, tmp_path / "avg")  # new weights: no export yet
    assert load_model_config(tmp_path / "avg").onnx is None and not (tmp_path / "avg" / "model.onnx").exists()
    rec = load_model_config(dirs[0]).onnx
    with_refinement(dirs[0], tmp_path / "ref", RefineConfig())  # same network: its export comes along
    assert load_model_config(tmp_path / "ref").onnx == rec
    assert (tmp_path / "ref" / "model.onnx").read_bytes() == (dirs[0] / "model.onnx").read_bytes()
    save_artifact(dirs[1], tiny_network(seed=30), load_model_config(dirs[1]))  # retrained in place: stale export gone
    assert load_model_config(dirs[1]).onnx is None and not (dirs[1] / "model.onnx").exists()
