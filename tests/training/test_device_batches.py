"""Training batches cut and augmented on the device (``data.on_device``): the same crops as the CPU path."""

from __future__ import annotations


import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch

from vitiseg.training import data as ds
from vitiseg.training.augment import AugmentConfig
from vitiseg.training.batches import Sampler
from vitiseg.training.device_batches import DeviceSampler, SampleBank, bank_side, build_bank

from helpers import tiny_train_config

PLAIN = AugmentConfig(scale_range=(1.0, 1.0), hflip=False, vflip=False, rot90=False, brightness=0.0,
                         contrast=0.0, saturation=0.0, hue_deg=0.0, blur_prob=0.0)


def _bank(h: int = 64, w: int = 48, side: int = 64, n: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    photos = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]
    masks = [rng.integers(0, 3, (h, w)).astype(np.uint8) for _ in range(n)]
    img = np.zeros((n, side, side, 3), np.uint8)
    tgt = np.full((n, side, side), ds.UNKNOWN, np.uint8)
    for i in range(n):
        img[i, :h, :w], tgt[i, :h, :w] = photos[i], masks[i]
    return SampleBank(torch.from_numpy(img), torch.from_numpy(tgt), np.array([[h, w]] * n)), photos, masks


def test_plain_crops_are_exact_windows_of_the_photo():
    bank, photos, masks = _bank()
    s = DeviceSampler(["a"], [1.0], {"a": bank}, 64, 32, 6, PLAIN, seed=0)
    x, t = s.batch(3)
    assert x.shape == (6, 32, 32, 3) and x.dtype == torch.uint8 and t.shape == (6, 32, 32) and t.dtype == torch.uint8
    for p, xi, ti in zip(s.draw(3), x, t):
        y0, x0 = int(p.y0), int(p.x0)
        assert np.array_equal(xi.numpy(), photos[p.index][y0:y0 + 32, x0:x0 + 32])
        assert np.array_equal(ti.numpy(), masks[p.index][y0:y0 + 32, x0:x0 + 32])
    x2, t2 = s.batch(3)
    assert torch.equal(x, x2) and torch.equal(t, t2)  # a pure function of (seed, step)
    assert not torch.equal(x, s.batch(4)[0])


@pytest.mark.parametrize("w,crop", [(48, 56), (5, 23)])
def test_padding_reflects_the_photo_and_marks_the_target_unknown(w, crop):
    """48 px wide photo, 56 px crop: 4 px a side; 5 px wide photo, 23 px crop: 9 px a side, reflected twice over."""
    bank, photos, masks = _bank(h=64, w=w)
    s = DeviceSampler(["a"], [1.0], {"a": bank}, 64, crop, 2, PLAIN, seed=0)
    x, t = s.batch(0)
    p = s.draw(0)[0]
    pad = (crop - w) // 2
    assert p.x0 == -pad
    y0 = int(p.y0)
    cols = [cv2.borderInterpolate(c, w, cv2.BORDER_REFLECT_101) for c in range(-pad, w + pad)]
    want = photos[p.index][y0:y0 + crop][:, cols]
    assert np.array_equal(x[0].numpy(), want)
    assert (t[0, :, :pad] == ds.UNKNOWN).all() and (t[0, :, pad + w:] == ds.UNKNOWN).all()
    assert np.array_equal(t[0, :, pad:pad + w].numpy(), masks[p.index][y0:y0 + crop])


@pytest.mark.parametrize("hflip,vflip,k", [(True, False, 0), (False, True, 1), (True, True, 3)])
def test_flips_and_rotations_follow_the_cpu_path(hflip, vflip, k, monkeypatch):
    bank, photos, masks = _bank()
    s = DeviceSampler(["a"], [1.0], {"a": bank}, 64, 32, 1, PLAIN, seed=0)
    p = s.draw(0)[0]
    import dataclasses

    forced = dataclasses.replace(p, hflip=hflip, vflip=vflip, rot90=k)
    monkeypatch.setattr(s, "draw", lambda step: [forced])
    x, t = s.batch(0)
    y0, x0 = int(p.y0), int(p.x0)
    img, tgt = photos[p.index][y0:y0 + 32, x0:x0 + 32], masks[p.index][y0:y0 + 32, x0:x0 + 32]
    if hflip:
        img, tgt = img[:, ::-1], tgt[:, ::-1]
    if vflip:
        img, tgt = img[::-1], tgt[::-1]
    img, tgt = np.rot90(img, k), np.rot90(tgt, k)
    assert np.array_equal(x[0].numpy(), img) and np.array_equal(t[0].numpy(), tgt)


def test_upscaling_matches_opencv_bilinear_and_nearest():
    bank, photos, masks = _bank(h=40, w=31, side=64)
    aug = PLAIN.model_copy(update={"scale_range": (1.5, 1.5)})  # 40x31 photo, working long side 64 * 1.5 = 96
    s = DeviceSampler(["a"], [1.0], {"a": bank}, 64, 48, 3, aug, seed=1)
    x, t = s.batch(0)
    for p, xi, ti in zip(s.draw(0), x, t):
        assert (p.hs, p.ws) == (96, 74)  # each axis scaled by its own rounded size, as cv2.resize does
        big = cv2.resize(photos[p.index], (74, 96), interpolation=cv2.INTER_LINEAR)
        y0, x0 = int(p.y0), int(p.x0)
        diff = np.abs(xi.numpy().astype(int) - big[y0:y0 + 48, x0:x0 + 48].astype(int))
        assert diff.max() <= 1  # rounding only
        # pixel-centre nearest neighbour (OpenCV's INTER_NEAREST_EXACT; plain INTER_NEAREST is shifted by half a pixel)
        bigm = cv2.resize(masks[p.index], (74, 96), interpolation=cv2.INTER_NEAREST_EXACT)
        assert (ti.numpy() == bigm[y0:y0 + 48, x0:x0 + 48]).mean() > 0.99


def test_photometric_jitter_keeps_the_target_and_stays_in_range():
    bank, photos, masks = _bank()
    aug = PLAIN.model_copy(update={"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue_deg": 10.0,
                                   "blur_prob": 1.0})
    plain = DeviceSampler(["a"], [1.0], {"a": bank}, 64, 32, 4, PLAIN, seed=0)
    jit = DeviceSampler(["a"], [1.0], {"a": bank}, 64, 32, 4, aug, seed=0)
    (xp, tp), (xj, tj) = plain.batch(0), jit.batch(0)
    assert all(p.blur_sigma >= 0.5 for p in jit.draw(0))
    assert torch.equal(tp, tj)  # same geometry draws, photometric changes never touch the target
    assert not torch.equal(xp, xj)
    # blur lowers the high-frequency energy of the random-noise photos
    assert xj.float().diff(dim=2).abs().mean() < 0.8 * xp.float().diff(dim=2).abs().mean()


def test_banks_and_sampler_weights(proc_dataset):
    cfg = tiny_train_config(proc_dataset)
    splits = {s.name: ds.list_samples(s) for s in cfg.data.sources}
    sampler = Sampler(cfg, splits)
    side = bank_side(64, cfg.augment)
    bank = build_bank(sampler.train["proc"], cfg.colour_normalisation, side, torch.device("cpu"))
    assert len(bank) == 6 and bank.side == 64 and bank.hw.tolist() == [[64, 64]] * 6
    rgb, tgt = ds.load_sample(sampler.train["proc"][2], cfg.colour_normalisation)
    assert np.array_equal(bank.images[2].numpy(), rgb) and np.array_equal(bank.targets[2].numpy(), tgt)
    spawned = build_bank(sampler.train["proc"], cfg.colour_normalisation, side, torch.device("cpu"), workers=2)
    assert torch.equal(spawned.images, bank.images) and torch.equal(spawned.targets, bank.targets)
    with pytest.raises(ValueError, match="no samples"):
        build_bank([], cfg.colour_normalisation, side, torch.device("cpu"))
    # two sources drawn by weight
    b2, _, _ = _bank(side=64, n=3)
    s = DeviceSampler(["x", "y"], [0.9, 0.1], {"x": bank, "y": b2}, 64, 32, 64, PLAIN, seed=0)
    share = np.mean([p.source == 0 for st in range(5) for p in s.draw(st)])
    assert 0.8 < share < 0.97
