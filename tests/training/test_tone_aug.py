"""``SourceConfig.tone_aug``: the skin sets' photos re-toned to a tone-balanced ITA in the loader batches, identity of
runs without it kept, and no effect on the targets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import cv2
import numpy as np

from vitiseg.io.images import write_png
from vitiseg.training import data as ds
from vitiseg.training.batches import Sampler
from vitiseg.training.config import TrainConfig


def _skin_source(tmp_path: Path) -> Path:
    """A ``skin`` source of three 128-px photos: a light noisy skin disc on blue-grey, mask 255 on the disc."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:128, 0:128]
    skin = (yy - 64) ** 2 + (xx - 64) ** 2 < 40 ** 2
    rgb = np.empty((128, 128, 3), np.float64)
    rgb[:] = (90, 100, 120)
    rgb[skin] = (225, 190, 170)
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    d = tmp_path / "skinset"
    (d / "images").mkdir(parents=True)
    for i in range(3):
        cv2.imwrite(str(d / "images" / f"p{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        write_png(d / "masks" / f"p{i}.png", skin.astype(np.uint8) * 255)
    (d / "splits.json").write_text(json.dumps({"train": ["p0", "p1", "p2"]}))
    return d


def test_tone_aug_changes_skin_photos_only_and_keeps_identity(tmp_path):
    d = _skin_source(tmp_path)

    def cfg(p: float) -> TrainConfig:
        return TrainConfig.model_validate({
            "name": "t", "input_long_side": 64,
            "data": {"crop_size": 64, "sources": [{"name": "s", "kind": "skin", "path": str(d), "tone_aug": p,
                                                   "train_splits": ["train"]}]},
            "augment": {"scale_range": [1.0, 1.0], "blur_prob": 0.0, "brightness": 0.0, "contrast": 0.0,
                        "saturation": 0.0, "hue_deg": 0.0},
            "optim": {"batch_size": 4}})

    c0, c1 = cfg(0.0), cfg(1.0)
    dump = c0.model_dump()
    no_key = TrainConfig.model_validate({**dump, "data": {
        **dump["data"], "sources": [{k: v for k, v in dump["data"]["sources"][0].items() if k != "tone_aug"}]}})
    assert c0.fingerprint() == no_key.fingerprint() != c1.fingerprint()
    splits = {"s": ds.list_samples(c0.data.sources[0])}
    x0, t0 = Sampler(c0, splits).batch(0)
    x1, t1 = Sampler(c1, splits).batch(0)
    assert x0.shape == x1.shape == (4, 64, 64, 3)
    assert not np.array_equal(x0.numpy(), x1.numpy())
    # the tone draws shift the later draws (crop windows), not the labels' meaning: most target pixels agree
    assert (t0.numpy() == t1.numpy()).mean() > 0.5
    # tone_aug 0 draws nothing: the batches of a config without the key
    xa, ta = Sampler(no_key, splits).batch(0)
    assert np.array_equal(xa.numpy(), x0.numpy()) and np.array_equal(ta.numpy(), t0.numpy())
