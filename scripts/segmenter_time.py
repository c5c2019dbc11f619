#!/usr/bin/env python
"""CPU time per photo of several model folders' ``predict`` (their own decode: flip average, hysteresis, ...).

The same photos (``--photos DIR``, recursively, the first ``--n`` sorted; read and colour-normalised once, resized to
``--long-side`` like ``vitiseg run``'s ``io.work_long_side``) are segmented by every model in turn, interleaved photo
by photo (so that load from other processes on a shared CPU hits every model alike), after one warm-up photo each.
Prints the median and mean seconds per photo and each model's ratio to the first model.

``--backend torch`` (default) runs every model on PyTorch (``UNetSegmenter``), so a training run's folder (no ONNX
export) and the shipped model are timed alike; ``--backend onnx`` runs their ``model.onnx`` on ONNX Runtime, the
backend ``vitiseg run`` uses by default (``vitiseg model export`` writes it).

    python scripts/segmenter_time.py --model vitiseg/models/vitiseg-unet-mnv2 --model runs/x/last \\
        --photos data_cache/cohort_s1 [--backend onnx]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from vitiseg.colour import normalise
from vitiseg.io.images import IMAGE_SUFFIXES, read_rgb, resize_long_side
from vitiseg.segmentation.unet import UNetSegmenter


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True)
    ap.add_argument("--photos", required=True)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--long-side", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backend", choices=["torch", "onnx"], default="torch")
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.backend == "onnx":
        from vitiseg.segmentation.onnx_runtime import OnnxSegmenter

        segs = [OnnxSegmenter.load(m, device="cpu", threads=a.threads) for m in a.model]
    else:
        segs = [UNetSegmenter.load(m, device="cpu") for m in a.model]
    files = sorted(p for p in Path(a.photos).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[: a.n + 1]
    photos = []
    for p in files:
        rgb = resize_long_side(read_rgb(p), a.long_side)  # as vitiseg run's working size
        photos.append(normalise(rgb, segs[0].cfg.colour_normalisation))
    for seg in segs:
        seg.predict(photos[0])  # warm-up
    times: list[list[float]] = [[] for _ in segs]
    for rgb in photos[1:]:
        for i, seg in enumerate(segs):
            t0 = time.perf_counter()
            seg.predict(rgb)
            times[i].append(time.perf_counter() - t0)
    res = {}
    base = statistics.median(times[0])
    for m, t in zip(a.model, times):
        med = statistics.median(t)
        res[m] = {"backend": a.backend, "n": len(t), "median_s": med, "mean_s": statistics.fmean(t),
                  "ratio_to_first": med / base}
        print(f"{m}: median {med:.3f} s, mean {statistics.fmean(t):.3f} s per photo, x{med / base:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
