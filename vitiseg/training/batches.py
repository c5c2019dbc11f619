"""Training batches: batch *k* is a pure function of (seed, *k*), prepared here, in loader processes, or on the
training device (``data.on_device``, :mod:`.device_batches`). So the number of loader processes, the device and an
interruption change speed, never the batches."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import torch

from ..segmentation.artifact import InputNorm
from . import data as ds
from .augment import augment_crop
from .config import TrainConfig

log = logging.getLogger(__name__)


class Sampler:
    """Deterministic batch sampler over the ``train`` splits of all sources (see module doc)."""

    def __init__(self, cfg: TrainConfig, splits: dict[str, dict[str, list[ds.Sample]]]) -> None:
        self.cfg = cfg
        self.names = [s.name for s in cfg.data.sources if s.weight > 0 and splits[s.name]["train"]]
        if not self.names:
            raise ValueError("no training samples in any source with weight > 0")
        w = np.array([next(s.weight for s in cfg.data.sources if s.name == n) for n in self.names], dtype=np.float64)
        self.p = w / w.sum()
        self.train = {n: splits[n]["train"] for n in self.names}
        self.tone_aug = {s.name: s.tone_aug for s in cfg.data.sources}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, allowed)``: ``(B, crop, crop, 3) uint8`` RGB crops (colour-normalised and augmented; see
        :func:`network_input`) and ``(B, crop, crop) uint8`` bit-mask targets."""
        rng = np.random.default_rng([self.cfg.seed, step])
        cfg = self.cfg
        xs, ts = [], []
        for _ in range(cfg.optim.batch_size):
            name = self.names[int(rng.choice(len(self.names), p=self.p))]
            pool = self.train[name]
            sample = pool[int(rng.integers(len(pool)))]
            rgb, tgt = ds.load_sample(sample, cfg.colour_normalisation)
            rgb = maybe_tone_augment(self.tone_aug[name], sample, rgb, tgt, rng)
            img, t = augment_crop(rgb, tgt, rng, cfg.input_long_side, cfg.data.crop_size, cfg.augment)
            xs.append(img)
            ts.append(t)
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def maybe_tone_augment(p: float, sample: ds.Sample, rgb: np.ndarray, tgt: np.ndarray,
                       rng: np.random.Generator) -> np.ndarray:
    """With probability ``p`` (``SourceConfig.tone_aug``; no random draw when 0) re-tone the skin of a ``skin``-kind
    sample's ``(H, W, 3) uint8`` colour-normalised photo to a tone-balanced ITA
    (:func:`vitiseg.synth.tones.tone_augment`; ``tgt`` its ``(H, W) uint8`` bit-mask target, unchanged). Other kinds
    are returned as they are, without a draw."""
    if p <= 0 or sample.kind != "skin":
        return rgb
    if rng.random() >= p:
        return rgb
    from ..synth.tones import tone_augment

    return tone_augment(rgb, tgt, rng)


def network_input(x: torch.Tensor, norm: InputNorm) -> torch.Tensor:
    """``(B, H, W, 3) uint8`` RGB batch (on any device) -> ``(B, 3, H, W) float32`` ``(x / 255 - mean) / std``."""
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std


class StepBatches(torch.utils.data.Dataset):
    """Map-style view of :meth:`Sampler.batch` indexed by step, for a ``DataLoader`` with ``batch_size=None``.

    Pickled (to spawned loader processes) as the config alone: each process rebuilds the sample lists (a sorted
    folder listing, identical everywhere), so a large source does not make every process start wait for the previous.
    """

    def __init__(self, sampler: Sampler, steps: range) -> None:
        self.cfg = sampler.cfg
        self.sampler: Sampler | None = sampler
        self.steps = steps

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "steps": self.steps, "sampler": None}

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sampler is None:
            self.sampler = Sampler(self.cfg, {s.name: ds.list_samples(s) for s in self.cfg.data.sources})
        return self.sampler.batch(self.steps[i])


def _loader_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # one core per loader process


def batches(sampler: Sampler, steps: range, workers: int, pin: bool) -> Any:
    """Iterate the batches of ``steps`` in order, prepared by ``workers`` processes (0 = here)."""
    if workers <= 0:
        return (sampler.batch(s) for s in steps)
    return torch.utils.data.DataLoader(
        StepBatches(sampler, steps), batch_size=None, shuffle=False, num_workers=workers, pin_memory=pin,
        prefetch_factor=4, worker_init_fn=_loader_init, multiprocessing_context="spawn",
    )


def device_stream(cfg: TrainConfig, sampler: Sampler, device: torch.device, workers: int, steps: range) -> Any:
    """Batches of ``steps`` cut on ``device`` from banks of every training sample (``data.on_device``)."""
    from .device_batches import DeviceSampler, bank_side, build_bank

    side = bank_side(cfg.input_long_side, cfg.augment)
    t0 = time.time()
    banks = {}
    for name in sampler.names:
        banks[name] = build_bank(sampler.train[name], cfg.colour_normalisation, side, device, workers)
    mb = sum(b.images.numel() + b.targets.numel() for b in banks.values()) / 2**20
    log.info("device banks: %s samples, side %d px, %.0f MiB on %s, built in %.1f s",
             {n: len(b) for n, b in banks.items()}, side, mb, device, time.time() - t0)
    dev_sampler = DeviceSampler(sampler.names, list(sampler.p), banks, cfg.input_long_side, cfg.data.crop_size,
                        cfg.optim.batch_size, cfg.augment, cfg.seed)
    return (dev_sampler.batch(s) for s in steps)
