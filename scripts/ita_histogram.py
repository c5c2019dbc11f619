#!/usr/bin/env python
"""ITA histogram of what a training config feeds the network, per source (issue 20: "checked by the ITA histogram of
the training set per source").

Draws ``--crops`` training crops of each source exactly as :class:`vitiseg.training.batches.Sampler` does (colour
normalisation, tone augmentation, crop, photometric jitter; a one-source copy of the config so every crop comes from
that source)
and bins the ITA of each crop's *healthy-skin* pixels (target bit "skin" alone; crops with < 200 such pixels are
skipped) into :data:`vitiseg.synth.tones.ITA_BINS` (very light > 55 ... dark < -30 degrees). ITA: median L*, b*
(CIELAB D65, OpenCV float32) of those pixels, as :func:`vitiseg.colour.skin_ita`. Prints a markdown table (share of
crops per bin) and writes ``--json`` (counts).

    python scripts/ita_histogram.py --config research/2026-12-01-segmenter/configs/short_lite0.yaml --crops 300 \\
        --json runs/x/ita.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from vitiseg.colour import skin_ita
from vitiseg.synth.tones import ITA_BINS, ita_bin
from vitiseg.training import data as ds
from vitiseg.training.batches import Sampler
from vitiseg.training.config import TrainConfig, load_train_config


def source_histogram(cfg: TrainConfig, name: str, crops: int, min_px: int = 200) -> dict[str, int]:
    """Counts per ITA bin of ``crops`` training crops of source ``name`` (batches of a one-source config)."""
    src = next(s for s in cfg.data.sources if s.name == name)
    one = TrainConfig.model_validate({**cfg.model_dump(), "data": {**cfg.data.model_dump(),
                                                                   "sources": [{**src.model_dump(), "weight": 1.0}]}})
    sampler = Sampler(one, {name: ds.list_samples(src)})
    counts = {b[0]: 0 for b in ITA_BINS}
    counts["skipped"] = 0
    step, done = 0, 0
    while done < crops:
        x, t = sampler.batch(step)
        for img, tg in zip(x.numpy(), t.numpy()):
            if done >= crops:
                break
            ita = skin_ita(img, tg == ds.SKIN_BIT, min_px)
            counts["skipped" if not np.isfinite(ita) else ita_bin(ita)] += 1
            done += 1
        step += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--crops", type=int, default=300)
    ap.add_argument("--json")
    a = ap.parse_args(argv)
    cfg = load_train_config(a.config)
    res = {s.name: source_histogram(cfg, s.name, a.crops) for s in cfg.data.sources if s.weight > 0}
    bins = [b[0] for b in ITA_BINS]
    print("| source | " + " | ".join(bins) + " | no skin |")
    print("|---|" + "---|" * (len(bins) + 1))
    for name, c in res.items():
        n = max(1, sum(c[b] for b in bins))
        print(f"| {name} | " + " | ".join(f"{100 * c[b] / n:.0f} %" for b in bins) + f" | {c['skipped']} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"config": a.config, "crops": a.crops, "counts": res}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
