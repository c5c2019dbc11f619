"""Training batches made on the training device (``data.on_device: true`` in a training config).

On a GPU the CPU loader is the bottleneck of :class:`.batches.Sampler`: every sample is decoded, colour-normalised
and augmented with OpenCV in a loader process, and a fast GPU waits for it. Here every training sample is prepared **once** (decoded, colour-normalised, resized so its long side is
``ceil(input_long_side * max scale)``) into a per-source bank of tensors on the device, and each batch is cut and
augmented there:

- geometry: the random scale, crop (centred reflect-101 padding, labelled unknown, where the scaled photo is smaller
  than the crop), flips and 90-degree rotations of :func:`.augment.augment_crop`, done as one sampling grid
  per crop (``torch.nn.functional.grid_sample``: bilinear for the photo, nearest for the bit-mask target);
- photometric: brightness / contrast about the crop's mean (as the CPU path), saturation and hue in HSV
  (``kornia.enhance.adjust_saturation`` / ``adjust_hue``), Gaussian blur (``kornia.filters.gaussian_blur2d``) with the
  CPU path's probabilities and ranges; the crop is rounded to uint8, so the training loop is the same for both paths.

All random draws of batch ``step`` come from ``numpy.random.default_rng([seed, step, 1])`` on the host, so a batch is a
pure function of ``(seed, step)`` and the banks, whatever the device (results differ from the CPU path's batches,
which use other draws and OpenCV's resampling; the two are not meant to be bit-identical).

Memory: a bank holds ``N * L * L * 4`` bytes (``L`` = bank side; 18,000 synthetic samples at L = 500 are 18 GB).
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import kornia
import numpy as np
import torch
import torch.nn.functional as F

from ..config import NormaliseConfig
from . import data as ds
from .augment import AugmentConfig, resize_pair

log = logging.getLogger(__name__)


@dataclass
class SampleBank:
    """One source's training samples on a device.

    ``images``: ``(N, L, L, 3) uint8`` colour-normalised RGB, top-left aligned, zero outside the photo;
    ``targets``: ``(N, L, L) uint8`` bit masks, :data:`.data.UNKNOWN` outside the photo;
    ``hw``: ``(N, 2) int64`` (host) height and width of each photo inside its square (long side = ``L``).
    """

    images: torch.Tensor
    targets: torch.Tensor
    hw: np.ndarray

    @property
    def side(self) -> int:
        return int(self.images.shape[1])

    def __len__(self) -> int:
        return int(self.images.shape[0])


def bank_side(long_side: int, aug: AugmentConfig) -> int:
    """Side of the stored squares: the largest working long side the random scale can ask for."""
    return int(math.ceil(long_side * max(aug.scale_range)))


def _prepare(args: tuple[ds.Sample, NormaliseConfig, int]) -> tuple[np.ndarray, np.ndarray]:
    sample, norm, side = args
    rgb, tgt = ds.load_sample(sample, norm)
    return resize_pair(rgb, tgt, side)


def build_bank(samples: list[ds.Sample], norm: NormaliseConfig, side: int, device: torch.device,
               workers: int = 0) -> SampleBank:
    """Load, normalise and resize every sample once (``workers`` processes; 0 = here) into a :class:`SampleBank`.

    Raises ValueError for an empty sample list; a sample that cannot be read raises (as the CPU sampler would).
    """
    if not samples:
        raise ValueError("no samples for a bank")
    n = len(samples)
    images = np.zeros((n, side, side, 3), np.uint8)
    targets = np.full((n, side, side), ds.UNKNOWN, np.uint8)
    hw = np.zeros((n, 2), np.int64)
    jobs = [(s, norm, side) for s in samples]
    if workers > 0:
        from multiprocessing import get_context

        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
            results = ex.map(_prepare, jobs, chunksize=16)
            for i, (img, tgt) in enumerate(results):
                h, w = tgt.shape
                images[i, :h, :w], targets[i, :h, :w], hw[i] = img, tgt, (h, w)
    else:
        for i, job in enumerate(jobs):
            img, tgt = _prepare(job)
            h, w = tgt.shape
            images[i, :h, :w], targets[i, :h, :w], hw[i] = img, tgt, (h, w)
    return SampleBank(torch.from_numpy(images).to(device), torch.from_numpy(targets).to(device), hw)


def _reflect101(x: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """Reflect coordinates into ``[0, size - 1]`` without repeating the edge (OpenCV BORDER_REFLECT_101)."""
    period = torch.clamp(2 * (size - 1), min=1)
    y = torch.remainder(x, period)
    return torch.where(y > size - 1, period - y, y)


@dataclass(frozen=True)
class CropParams:
    """Host-side random draws of one crop (see :meth:`DeviceSampler.draw`)."""

    source: int
    index: int
    hs: int  # height and width of the photo rescaled to the random working long side
    ws: int
    y0: float  # top-left of the crop in scaled coordinates (negative = centred padding)
    x0: float
    hflip: bool
    vflip: bool
    rot90: int
    brightness: float
    contrast: float
    saturation: float
    hue_deg: float
    blur_sigma: float  # 0 = no blur


class DeviceSampler:
    """Batches of augmented crops cut from :class:`SampleBank` s on their device (same contract as
    :meth:`.batches.Sampler.batch`: ``(B, c, c, 3) uint8`` crops and ``(B, c, c) uint8`` bit masks)."""

    def __init__(self, names: list[str], weights: list[float], banks: dict[str, SampleBank], long_side: int,
                 crop: int, batch_size: int, aug: AugmentConfig, seed: int) -> None:
        if not names or any(len(banks[n]) == 0 for n in names):
            raise ValueError("every source needs a non-empty bank")
        w = np.asarray(weights, np.float64)
        self.names, self.p = names, w / w.sum()
        self.banks = banks
        self.long_side, self.crop, self.batch_size = long_side, crop, batch_size
        self.aug, self.seed = aug, seed

    def draw(self, step: int) -> list[CropParams]:
        """The random parameters of batch ``step`` (pure function of ``(seed, step)`` and the bank sizes)."""
        rng = np.random.default_rng([self.seed, step, 1])
        a, c = self.aug, self.crop
        out = []
        for _ in range(self.batch_size):
            src = int(rng.choice(len(self.names), p=self.p))
            bank = self.banks[self.names[src]]
            idx = int(rng.integers(len(bank)))
            target_long = max(8, int(round(self.long_side * rng.uniform(*a.scale_range))))
            h, w = bank.hw[idx]
            r = target_long / max(h, w)
            hs, ws = max(1, int(round(h * r))), max(1, int(round(w * r)))
            y0 = float(rng.integers(0, hs - c + 1)) if hs >= c else -((c - hs) // 2)
            x0 = float(rng.integers(0, ws - c + 1)) if ws >= c else -((c - ws) // 2)
            # a fixed number of draws per crop, whatever is switched off, so geometry never depends on the jitter
            u = rng.random(9)
            hf = bool(a.hflip and u[0] < 0.5)
            vf = bool(a.vflip and u[1] < 0.5)
            k = int(u[2] * 4) if a.rot90 else 0
            b = 1.0 + a.brightness * (2 * u[3] - 1)
            ct = 1.0 + a.contrast * (2 * u[4] - 1)
            sat = 1.0 + a.saturation * (2 * u[5] - 1)
            hue = a.hue_deg * (2 * u[6] - 1)
            blur = float(0.5 + u[8]) if u[7] < a.blur_prob else 0.0
            out.append(CropParams(src, idx, hs, ws, y0, x0, hf, vf, k, b, ct, sat, hue, blur))
        return out

    def _grid(self, p: CropParams, h: int, w: int, side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling grid ``(c, c, 2)`` (normalised, align_corners=True) into the bank square, and the ``(c, c)``
        mask of output pixels that fall outside the photo (padding)."""
        c = self.crop
        a = torch.arange(c, device=device, dtype=torch.float32)
        # source row / column of each output pixel centre (the mapping of cv2.resize from (h, w) to (hs, ws))
        ys = (p.y0 + a + 0.5) * (h / p.hs) - 0.5
        xs = (p.x0 + a + 0.5) * (w / p.ws) - 0.5
        out_y = (p.y0 + a < 0) | (p.y0 + a > p.hs - 1)
        out_x = (p.x0 + a < 0) | (p.x0 + a > p.ws - 1)
        ys = _reflect101(ys, torch.tensor(float(h), device=device)).clamp(0, h - 1)
        xs = _reflect101(xs, torch.tensor(float(w), device=device)).clamp(0, w - 1)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        grid = torch.stack([gx, gy], dim=-1) / max(side - 1, 1) * 2 - 1
        pad = out_y[:, None] | out_x[None, :]
        # flips and 90-degree rotations, in the CPU path's order (h, then v, then k quarter turns)
        if p.hflip:
            grid, pad = grid.flip(1), pad.flip(1)
        if p.vflip:
            grid, pad = grid.flip(0), pad.flip(0)
        if p.rot90:
            grid, pad = torch.rot90(grid, p.rot90, (0, 1)), torch.rot90(pad, p.rot90, (0, 1))
        return grid, pad

    @torch.no_grad()
    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Batch ``step`` on the banks' device: ``(B, c, c, 3) uint8`` and ``(B, c, c) uint8``."""
        params = self.draw(step)
        c = self.crop
        dev = self.banks[self.names[0]].images.device
        x = torch.empty((len(params), 3, c, c), dtype=torch.float32, device=dev)
        t = torch.empty((len(params), c, c), dtype=torch.float32, device=dev)
        for src in sorted({p.source for p in params}):
            bank = self.banks[self.names[src]]
            pos = [i for i, p in enumerate(params) if p.source == src]
            idx = torch.tensor([params[i].index for i in pos], device=dev)
            grids, pads = zip(*(self._grid(params[i], *bank.hw[params[i].index], bank.side, dev) for i in pos))
            grid = torch.stack(grids)
            img = bank.images.index_select(0, idx).permute(0, 3, 1, 2).float()
            tgt = bank.targets.index_select(0, idx)[:, None].float()
            at = torch.tensor(pos, device=dev)
            x[at] = F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True)
            ti = F.grid_sample(tgt, grid, mode="nearest", padding_mode="border", align_corners=True)[:, 0]
            t[at] = torch.where(torch.stack(pads), float(ds.UNKNOWN), ti)
        x = self._photometric(x, params)
        return (x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous(),
                t.round().to(torch.uint8))

    @staticmethod
    def _photometric(x: torch.Tensor, params: list[CropParams]) -> torch.Tensor:
        """``(B, 3, c, c) float`` crops in 0..255 -> jittered crops in 0..255 (brightness/contrast about each crop's
        mean, then HSV saturation and hue, then the Gaussian blur of the crops that drew one)."""
        dev = x.device
        b = torch.tensor([p.brightness for p in params], device=dev).view(-1, 1, 1, 1)
        c = torch.tensor([p.contrast for p in params], device=dev).view(-1, 1, 1, 1)
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = ((x - mean) * c + mean * b).clamp(0, 255)
        sat = torch.tensor([p.saturation for p in params], device=dev)
        hue = torch.tensor([math.radians(p.hue_deg) for p in params], device=dev)
        x01 = kornia.enhance.adjust_saturation(x / 255.0, sat)
        x01 = kornia.enhance.adjust_hue(x01, hue).clamp(0, 1)
        blur = [i for i, p in enumerate(params) if p.blur_sigma > 0]
        if blur:
            sig = torch.tensor([[params[i].blur_sigma] * 2 for i in blur], device=dev)
            ii = torch.tensor(blur, device=dev)
            x01[ii] = kornia.filters.gaussian_blur2d(x01[ii], (9, 9), sig, border_type="reflect")
        return x01 * 255.0
