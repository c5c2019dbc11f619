"""One photo, one mask: ``vitiseg run``, ``vitiseg segment``, ``vitiseg evaluate`` and training validation all read it
the same way and take it through :func:`vitiseg.segmentation.base.segment_photo` (working-size resize, then the
model's own colour normalisation, then the network), so they give the same classes.

The model is a small random-weight U-Net whose ``config.json`` asks for ``grey_world`` normalisation (not the run
config's). The photos are larger than the working size (1024 px) and have a colour cast: a PNG, and a JPEG of more
than twice the working size (read in JPEG draft mode). The first test shows that another normalisation, no resize or
another decode would give another mask: the equalities of the second can only hold if every command reads, resizes
and normalises the same way, as the model says."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch

from vitiseg.cli import main as cli_main
from vitiseg.colour import normalise
from vitiseg.config import NormaliseConfig
from vitiseg.evaluation.runner import default_work_long_side, predict_at
from vitiseg.io.images import encode_jpeg, read_mask, read_rgb, resize_long_side, write_png
from vitiseg.segmentation.artifact import ModelConfig, build_network
from vitiseg.segmentation.unet import UNetSegmenter
from vitiseg.training import data as ds
from vitiseg.training.trainer import model_config_for, validate

from helpers import save, save_tiny_unet, tiny_network, tiny_train_config

MODEL_NORM = NormaliseConfig(method="grey_world")
WORK = 1024  # the packaged run config's io.work_long_side, which every command uses by default


def _photo(h: int, w: int) -> np.ndarray:
    """Blue backdrop, a skin ellipse with three pale patches, camera noise and a warm colour cast."""
    yy, xx = np.mgrid[0:h, 0:w] / (h / 960)
    rgb = np.empty((h, w, 3), np.float64)
    rgb[:] = (60, 80, 150)
    skin = ((yy - 480) / 380) ** 2 + ((xx - 640) / 520) ** 2 <= 1
    rgb[skin] = (200, 140, 105)
    for cy, cx, r in ((380, 500, 120), (600, 800, 160), (300, 900, 70)):
        rgb[skin & ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)] = (240, 228, 220)
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape)
    return np.clip(rgb * (1.15, 1.0, 0.8), 0, 255).astype(np.uint8)


def _balanced_network(work: np.ndarray):
    """A random network (head weights x 8: its logits follow the photo) whose class biases put about 30 % of the
    normalised working photo in background and split the rest evenly between healthy and depigmented skin, so
    that all three classes lie near their decision boundaries whatever the random weights are."""
    net = tiny_network(seed=3, head_scale=8.0)
    probe = UNetSegmenter(net, ModelConfig(name="probe", input_long_side=128), {}, torch.device("cpu"))
    logp = np.log(np.maximum(probe.predict_probs(normalise(work, MODEL_NORM)), 1e-12))
    b2 = -float(np.median(logp[2] - logp[1]))
    b0 = -float(np.quantile(logp[0] - np.logaddexp(logp[1], logp[2] + b2), 0.7))
    with torch.no_grad():
        net.segmentation_head[0].bias += torch.tensor([b0, 0.0, b2])
    return net


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("model")
    save_tiny_unet(d, _balanced_network(resize_long_side(_photo(960, 1280), WORK)), colour_normalisation=MODEL_NORM)
    return d


@pytest.fixture(scope="module", params=["png", "jpg"])
def setup(request, model: Path, tmp_path_factory) -> dict:
    """One photo in a visits folder and in a flat image folder, with the mask every command must give."""
    root = tmp_path_factory.mktemp(request.param)
    name = f"hands.{request.param}"
    if request.param == "png":  # 1.25 x the working size, lossless
        rgb = _photo(960, 1280)
        save(root / "images" / name, rgb)
    else:  # 2.5 x the working size: decoded at half resolution (JPEG draft mode), then resized
        rgb = _photo(1920, 2560)
        (root / "images").mkdir()
        (root / "images" / name).write_bytes(encode_jpeg(rgb, 92))
    (root / "visits" / "P1" / "v1").mkdir(parents=True)
    (root / "visits" / "P1" / "v1" / name).write_bytes((root / "images" / name).read_bytes())
    seg = UNetSegmenter.load(model, device="cpu")
    work = resize_long_side(read_rgb(root / "images" / name, reduce_to_long_side=WORK), WORK)
    expected = seg.predict(normalise(work, MODEL_NORM))
    h, w = rgb.shape[:2]
    return {"root": root, "name": name, "rgb": rgb, "seg": seg, "work": work, "expected": expected, "shape": (h, w),
            "full": cv2.resize(expected, (w, h), interpolation=cv2.INTER_NEAREST)}


def test_the_photo_and_model_make_every_step_matter(setup) -> None:
    expected, work, seg = setup["expected"], setup["work"], setup["seg"]
    assert work.shape[:2] == (768, 1024) and default_work_long_side() == WORK
    shares = np.bincount(expected.ravel(), minlength=3) / expected.size
    assert shares.min() > 0.15  # all three classes, in quantity
    for other in (NormaliseConfig(), NormaliseConfig(method="none")):  # the run config's default, and "none"
        assert (seg.predict(normalise(work, other)) != expected).mean() > 0.05
    no_resize = seg.predict(normalise(setup["rgb"], MODEL_NORM))  # normalised and segmented at full size
    assert (cv2.resize(no_resize, (1024, 768), interpolation=cv2.INTER_NEAREST) != expected).sum() > 100
    if setup["name"].endswith(".jpg"):  # a full decode of the JPEG gives another working photo, and mask
        full_decode = resize_long_side(read_rgb(setup["root"] / "images" / setup["name"]), WORK)
        assert (seg.predict(normalise(full_decode, MODEL_NORM)) != expected).sum() > 100


def test_run_segment_evaluate_and_validation_give_the_same_mask(setup, model: Path, tmp_path: Path) -> None:
    root, name, expected, full = setup["root"], setup["name"], setup["expected"], setup["full"]
    h, w = setup["shape"]
    # vitiseg run: the mask of the working-size photo (the run config's normalisation is "none": not used by a U-Net)
    assert cli_main(["run", str(root / "visits"), "--out", str(tmp_path / "run"), "--model", str(model),
                     "--device", "cpu", "--normalise", "none", "--face-area", "skin", "--no-report",
                     "--no-progress"]) == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "run" / "masks" / "P1" / "v1" / "hands.png"), expected)
    row = pd.read_csv(tmp_path / "run" / "photos.csv").iloc[0]
    assert (row["width"], row["height"]) == (1024, 768)
    assert (row["skin_px"], row["depigmented_px"]) == (int((expected > 0).sum()), int((expected == 2).sum()))

    # vitiseg segment: the same classes, brought back to the photo's own resolution
    assert cli_main(["segment", str(root / "images"), "--out", str(tmp_path / "seg"), "--model", str(model),
                     "--device", "cpu", "--normalise", "none"]) == 0
    np.testing.assert_array_equal(read_mask(tmp_path / "seg" / "hands.png"), full)

    # vitiseg evaluate: its prediction, and the command against the run's mask as ground truth: not one wrong pixel
    read = read_rgb(root / "images" / name, reduce_to_long_side=WORK)
    pred, norm = predict_at(setup["seg"], read, (h, w), default_work_long_side())
    np.testing.assert_array_equal(pred, full)
    np.testing.assert_array_equal(norm, normalise(setup["work"], MODEL_NORM))
    write_png(tmp_path / "truth" / "hands.png", full)
    assert cli_main(["evaluate", "--model", str(model), "--device", "cpu", "--images", str(root / "images"),
                     "--masks", str(tmp_path / "truth"), "--out", str(tmp_path / "ev"), "--worst", "3"]) == 0
    ev = pd.read_csv(tmp_path / "ev" / "per_image.csv").iloc[0]
    assert (ev["width"], ev["height"]) == (w, h)
    assert (ev["depig_tp"], ev["depig_fp"], ev["depig_fn"]) == (int((full == 2).sum()), 0, 0)
    assert (ev["skin_fp"], ev["skin_fn"]) == (0, 0)
    assert not (tmp_path / "ev" / "worst.jpg").exists()  # no wrong pixel, no worst case

    # training validation: the network as the trainer holds it (its model config from the training config)
    data = tmp_path / "val"
    (data / "images").mkdir(parents=True)
    (data / "images" / name).write_bytes((root / "images" / name).read_bytes())
    write_png(data / "masks" / "hands.png", full)
    (data / "index.csv").write_text("id,split\nhands,val\n")
    cfg = tiny_train_config(data, colour_normalisation=MODEL_NORM.model_dump(), input_long_side=128)
    net = build_network(cfg.architecture)
    net.load_state_dict(setup["seg"].net.state_dict())
    trainer_seg = UNetSegmenter(net.eval(), model_config_for(cfg, {}), {"name": cfg.name, "kind": "unet"},
                                torch.device("cpu"))
    val = validate(trainer_seg, cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    assert val["sources"]["proc"]["n"] == 1
    assert val["sources"]["proc"]["depig_dice"] == 1.0 and val["sources"]["proc"]["skin_dice"] == 1.0
    assert val["sources"]["proc"]["fraction_mae"] == 0.0 and val["score"] == 1.0
