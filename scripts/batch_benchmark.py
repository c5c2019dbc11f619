#!/usr/bin/env python
"""Measure how fast training batches are made: OpenCV loader processes (``Sampler``) vs device banks
(``data.on_device``, :mod:`vitiseg.training.device_batches`), and optionally a training step, for a training config.

    python scripts/batch_benchmark.py --config configs/train/train_unet_mnv2_cpu7.yaml --steps 20 [--workers 15] [--train-step]

Prints crops per second for each path (after one warm-up batch), the time to build the device banks, and with
``--train-step`` the forward + backward time of one batch on the config's device, so GPU time can be planned
(is the loader or the network the limit?). Not a test; numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from vitiseg.training import data as ds
from vitiseg.segmentation.artifact import build_network
from vitiseg.training.batches import Sampler, batches, device_stream, network_input
from vitiseg.training.config import load_train_config
from vitiseg.training.loss import partial_loss

log = logging.getLogger("batch_benchmark")


def _rate(stream, steps: int, batch: int, device: torch.device) -> float:
    next(stream)  # warm-up (loader start, first allocation)
    t = time.time()
    for _ in range(steps):
        x, _t = next(stream)
        if device.type == "cuda":
            torch.cuda.synchronize()
    return steps * batch / (time.time() - t)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--workers", type=int, default=None, help="override loader_workers")
    ap.add_argument("--train-step", action="store_true", help="also time forward + backward of one batch")
    ap.add_argument("--skip-cpu-loader", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = load_train_config(a.config)
    device = torch.device("cuda" if (cfg.device in ("auto", "cuda") and torch.cuda.is_available()) else "cpu")
    torch.set_num_threads(cfg.threads)
    workers = min(cfg.loader_workers if a.workers is None else a.workers, max(0, (os.cpu_count() or 1) - 1))
    sampler = Sampler(cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    bs = cfg.optim.batch_size
    steps = range(0, a.steps + 1)
    if not a.skip_cpu_loader:
        r = _rate(iter(batches(sampler, steps, workers, device.type == "cuda")), a.steps, bs, device)
        log.info("OpenCV loader (%d processes): %.1f crops/s of %d px", workers, r, cfg.data.crop_size)
    t = time.time()
    stream = iter(device_stream(cfg, sampler, device, workers, steps))
    log.info("device banks built in %.1f s", time.time() - t)
    r = _rate(stream, a.steps - 1, bs, device)
    log.info("device batches on %s: %.1f crops/s of %d px", device, r, cfg.data.crop_size)
    if a.train_step:
        layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
        net = build_network(cfg.architecture).to(device).to(memory_format=layout).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
        amp = device.type == "cuda" and cfg.mixed_precision == "bf16"
        x, tg = next(stream)
        times = []
        for i in range(6):
            t = time.time()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(network_input(x, cfg.input_norm).contiguous(memory_format=layout))
            loss, _ = partial_loss(logits, tg, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.time() - t)
        step = min(times[1:])
        log.info("train step on %s: %.3f s per batch of %d (%.1f crops/s)", device, step, bs, bs / step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
