"""Model artifact I/O (strict loading, hash) and inference (any size, classes only, determinism)."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from vitiseg.images import sha256_file
from vitiseg.model import (
    ArchConfig,
    ModelConfig,
    ModelError,
    UNetSegmenter,
    build_network,
    decode_probs,
    default_model_dir,
    save_artifact,
)

torch.set_num_threads(1)

SMALL = ArchConfig(encoder="mobilenet_v2", decoder_channels=(32, 16, 16, 8, 8))


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    torch.manual_seed(0)
    net = build_network(SMALL)
    # give BatchNorm non-trivial running stats so fp16 / strict-loading mistakes would show
    net.eval()
    cfg = ModelConfig(name="tiny-test", architecture=SMALL, input_long_side=128)
    d = tmp_path_factory.mktemp("model")
    sha = save_artifact(d, net, cfg, card="# tiny\n")
    return d, net, sha


def test_round_trip_is_exact_and_hash_recorded(artifact):
    d, net, sha = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    assert seg.identity["sha256"] == sha == sha256_file(d / "model.safetensors")
    assert seg.identity["kind"] == "unet" and seg.identity["encoder"] == "mobilenet_v2"
    assert seg.identity["name"] == "tiny-test"
    for k, v in net.state_dict().items():
        assert torch.equal(v, seg.net.state_dict()[k]), k
    assert (d / "README.md").read_text() == "# tiny\n"


def test_fp16_weights_load_back_as_fp32(tmp_path):
    torch.manual_seed(1)
    net = build_network(SMALL)
    cfg = ModelConfig(name="half", architecture=SMALL, input_long_side=64, weights_dtype="float16")
    save_artifact(tmp_path, net, cfg)
    assert load_file(str(tmp_path / "model.safetensors"))["segmentation_head.0.weight"].dtype == torch.float16
    seg = UNetSegmenter.load(tmp_path, device="cpu")
    w = seg.net.state_dict()["segmentation_head.0.weight"]
    assert w.dtype == torch.float32
    assert torch.allclose(w, net.state_dict()["segmentation_head.0.weight"], atol=1e-3)


def _copy_artifact(src, dst):
    dst.mkdir(exist_ok=True)
    for f in ("config.json", "model.safetensors"):
        (dst / f).write_bytes((src / f).read_bytes())


def test_wrong_key_fails(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    sd["unexpected.weight"] = torch.zeros(3)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="unexpected"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_missing_key_fails(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    del sd["segmentation_head.0.bias"]
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="Missing"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_wrong_shape_fails(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    sd = load_file(str(tmp_path / "model.safetensors"))
    sd["segmentation_head.0.bias"] = torch.zeros(4)
    save_file(sd, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelError, match="size mismatch"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_config_mismatching_weights_fails(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["architecture"]["decoder_channels"] = [64, 16, 16, 8, 8]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError):
        UNetSegmenter.load(tmp_path, device="cpu")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda c: c.update(extra_key=1),
        lambda c: c.update(classes=["bg", "skin", "lesion"]),
        lambda c: c.update(input_long_side=100),
        lambda c: c["architecture"].update(encoder_weights="imagenet"),
        lambda c: c.update(depigmented_threshold_low=0.6),  # above depigmented_threshold (0.5)
    ],
)
def test_invalid_config_rejected(artifact, tmp_path, mutate):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    mutate(cfg)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="invalid model config"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_missing_files_fail(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        UNetSegmenter.load(tmp_path, device="cpu")


@pytest.mark.parametrize("shape", [(333, 517), (2000, 3000), (17, 5), (1, 1)])
def test_any_size_gives_class_mask_of_same_size(artifact, shape):
    d, _, _ = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    rgb = np.random.default_rng(0).integers(0, 256, (*shape, 3), dtype=np.uint8)
    out = seg.predict(rgb)
    assert out.shape == shape and out.dtype == np.uint8
    assert set(np.unique(out)) <= {0, 1, 2}


def test_deterministic_and_batch_equals_single(artifact):
    d, _, _ = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    rng = np.random.default_rng(3)
    imgs = [rng.integers(0, 256, s + (3,), dtype=np.uint8) for s in [(200, 300), (400, 600), (120, 90)]]
    a = [seg.predict(x) for x in imgs]
    b = [seg.predict(x) for x in imgs]
    c = seg.predict_batch(imgs)
    seg2 = UNetSegmenter.load(d, device="cpu")
    e = [seg2.predict(x) for x in imgs]
    for x, y, z, w in zip(a, b, c, e):
        assert np.array_equal(x, y) and np.array_equal(x, z) and np.array_equal(x, w)
    p = seg.predict_probs(imgs[0])
    assert p.shape == (3, 200, 300)
    np.testing.assert_allclose(p.sum(0), 1.0, atol=1e-4)


def test_input_is_validated(artifact):
    d, _, _ = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    with pytest.raises(ValueError):
        seg.predict(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError):
        seg.predict(np.zeros((10, 10, 3), np.float32))


def test_decode_rule():
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


def test_hysteresis_decode_keeps_weak_pixels_connected_to_a_strong_one():
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


def test_hysteresis_does_not_connect_through_background():
    share = np.array([[0.9, 0.4, 0.4]])
    bg = np.array([[0.0, 0.9, 0.0]])  # the middle pixel is background
    got = decode_probs(_two_class_probs(share, bg), 0.5, 0.3)
    assert got.tolist() == [[2, 0, 1]]


def test_hysteresis_setting_reaches_predictions_and_identity(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["depigmented_threshold_low"] = 0.05
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    plain = UNetSegmenter.load(d, device="cpu")
    hyst = UNetSegmenter.load(tmp_path, device="cpu")
    assert "depigmented_threshold_low" not in plain.identity  # older run folders keep their resume key
    assert hyst.identity["depigmented_threshold_low"] == 0.05
    img = np.random.default_rng(3).integers(0, 256, (90, 120, 3), dtype=np.uint8)
    p = plain.predict_probs(img)
    assert np.array_equal(hyst.predict(img), decode_probs(p, 0.5, 0.05))
    assert np.array_equal(plain.predict(img), decode_probs(p, 0.5))
    assert not np.array_equal(hyst.predict(img), plain.predict(img))  # the setting changed something here


def test_flip_average_is_the_mean_of_the_photo_and_its_mirror(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["flip_average"] = True
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    plain = UNetSegmenter.load(d, device="cpu")
    flip = UNetSegmenter.load(tmp_path, device="cpu")
    assert flip.identity["flip_average"] is True and "flip_average" not in plain.identity
    # 128 x 96 is already the working size (long side 128) and a multiple of 32: no resize, no padding
    img = np.random.default_rng(5).integers(0, 256, (96, 128, 3), dtype=np.uint8)
    want = (plain.predict_probs(img) + plain.predict_probs(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1]) / 2
    got = flip.predict_probs(img)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert np.abs(got - plain.predict_probs(img)).max() > 1e-3  # the mirror changed something
    # invariant: the flip-averaged prediction of the mirror image is the mirror of the prediction
    np.testing.assert_allclose(flip.predict_probs(np.ascontiguousarray(img[:, ::-1]))[:, :, ::-1], got, atol=1e-6)
    # batches (with padding: 100 x 70 -> working 128 x 90, padded to 128 x 96) equal single calls
    imgs = [np.random.default_rng(k).integers(0, 256, (70, 100, 3), dtype=np.uint8) for k in range(3)]
    assert all(np.array_equal(a, flip.predict(i)) for a, i in zip(flip.predict_batch(imgs), imgs))
    assert np.array_equal(flip.predict(img), decode_probs(got, 0.5))


def test_up_down_flips_average_four_mirror_images(artifact, tmp_path):
    d, _, _ = artifact
    _copy_artifact(d, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg.update(flip_average=True, flip_average_up_down=True)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    plain = UNetSegmenter.load(d, device="cpu")
    four = UNetSegmenter.load(tmp_path, device="cpu")
    assert four.identity["flip_average_up_down"] is True
    img = np.random.default_rng(6).integers(0, 256, (96, 128, 3), dtype=np.uint8)  # working size, no padding

    def mirrored(rows, cols):
        return plain.predict_probs(np.ascontiguousarray(img[rows, cols]))[:, rows, cols]

    rev, keep = slice(None, None, -1), slice(None)
    want = (mirrored(keep, keep) + mirrored(keep, rev) + mirrored(rev, keep) + mirrored(rev, rev)) / 4
    got = four.predict_probs(img)
    np.testing.assert_allclose(got, want, atol=1e-6)
    # invariant: predicting the up-down mirror gives the mirrored prediction
    np.testing.assert_allclose(four.predict_probs(np.ascontiguousarray(img[::-1]))[:, ::-1], got, atol=1e-6)
    cfg["flip_average"] = False  # up-down without the left-right flip is rejected
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelError, match="flip_average_up_down needs flip_average"):
        UNetSegmenter.load(tmp_path, device="cpu")


def test_default_model_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("VITISEG_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path
    monkeypatch.delenv("VITISEG_MODEL_DIR")
    assert default_model_dir().parent.name == "models"


def test_shipped_model_loads_if_present():
    d = default_model_dir()
    if not (d / "config.json").is_file():
        pytest.skip("no shipped model")
    seg = UNetSegmenter.load(d, device="cpu")
    assert (d / "model.safetensors").stat().st_size < 30 * 1024 * 1024
    assert seg.identity["sha256"] == sha256_file(d / "model.safetensors")
    out = seg.predict(np.full((240, 320, 3), 128, np.uint8))
    assert out.shape == (240, 320) and set(np.unique(out)) <= {0, 1, 2}


def test_ambiguity_map_matches_probabilities(artifact):
    d, _, _ = artifact
    seg = UNetSegmenter.load(d, device="cpu")
    rng = np.random.default_rng(4)
    for shape in [(200, 300), (97, 61)]:
        img = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
        classes, amb = seg.predict_with_ambiguity(img)
        assert np.array_equal(classes, seg.predict(img))  # same classes as the plain prediction
        p = seg.predict_probs(img)
        ratio = p[2] / np.maximum(p[1] + p[2], 1e-12)
        expected = (classes >= 1) & (ratio > 0.25) & (ratio < 0.75)
        assert amb.dtype == bool and amb.shape == shape and np.array_equal(amb, expected)
        assert not (amb & (classes == 0)).any()


def test_average_artifacts_exact(tmp_path):
    from vitiseg.model import average_artifacts

    dirs = []
    for i in range(3):
        torch.manual_seed(10 + i)
        net = build_network(SMALL)
        with torch.no_grad():  # distinct BatchNorm statistics and counters per input
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.uniform_(-1, 1)
                    m.num_batches_tracked.fill_(i + 1)
        cfg = ModelConfig(name=f"m{i}", architecture=SMALL, input_long_side=64, training={"epoch": i})
        save_artifact(tmp_path / f"m{i}", net, cfg)
        dirs.append(tmp_path / f"m{i}")
    sha = average_artifacts(dirs, tmp_path / "avg")
    assert sha == sha256_file(tmp_path / "avg" / "model.safetensors")
    ins = [load_file(str(d / "model.safetensors")) for d in dirs]
    out = load_file(str(tmp_path / "avg" / "model.safetensors"))
    for k, v in out.items():
        if v.is_floating_point():
            want = (ins[0][k].double() + ins[1][k].double() + ins[2][k].double()) / 3
            assert torch.equal(v, want.float()), k
        else:
            assert torch.equal(v, ins[2][k]), k  # counters from the last input
    cfg = json.loads((tmp_path / "avg" / "config.json").read_text())
    assert cfg["name"] == "m2" and cfg["training"]["epoch"] == 2
    assert [e["sha256"] for e in cfg["training"]["weight_average_of"]] == [sha256_file(d / "model.safetensors") for d in dirs]
    UNetSegmenter.load(tmp_path / "avg", device="cpu")  # loads strictly
    other = ModelConfig(name="x", architecture=SMALL, input_long_side=96)
    save_artifact(tmp_path / "x", build_network(SMALL), other)
    with pytest.raises(ModelError, match="input_long_side"):
        average_artifacts([dirs[0], tmp_path / "x"], tmp_path / "bad")
    with pytest.raises(ModelError, match="at least two"):
        average_artifacts(dirs[:1], tmp_path / "bad")
