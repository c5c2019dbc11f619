#!/usr/bin/env python
"""Quick retrain benchmark: does the U-Net training recipe still learn?

Generates a small synthetic dataset (``vitiseg synth dataset`` on the real skin backgrounds, or the procedural
fixture with ``--procedural``), trains a reduced U-Net for a few epochs with :func:`vitiseg.training.trainer.train`, evaluates
the best checkpoint on the held-out split with :mod:`vitiseg.evaluation`, prints a table and exits non-zero when

- the training loss of the last epoch is not below ``--max-loss-ratio`` x that of the first epoch, or
- the pooled Dice of the depigmented class on the held-out split is below ``--min-dice``.

Defaults (about 10-15 min on 2 shared CPU cores): 400 synthetic samples at 256 px, 4 epochs x 60 steps of batch 8 at
160 px crops. The CI smoke run (tests/test_train.py) uses ``--procedural`` with a few steps.
The full recipe of the shipped model is configs/train/train_unet_mnv2.yaml (see models/*/README.md).

    .venv/bin/python scripts/train_benchmark.py [--work /tmp/vitiseg_bench] [--skin-root ../shared/data/skin]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]

from vitiseg.training.data import write_procedural_dataset
from vitiseg.evaluation.runner import read_ids, run_evaluation
from vitiseg.training.config import TrainConfig
from vitiseg.training.trainer import train


def build_config(data: Path, args: argparse.Namespace) -> TrainConfig:
    size = 64 if args.procedural else 256
    return TrainConfig.model_validate(
        {
            "name": "bench-unet",
            "seed": args.seed,
            "device": "auto",
            "threads": args.threads,
            "input_long_side": size,
            "architecture": {"encoder": "mobilenet_v2", "decoder_channels": [64, 32, 16, 16, 8]},
            "data": {
                "crop_size": 64 if args.procedural else args.crop,
                "sources": [
                    {"name": "synth", "kind": "classes", "path": str(data), "train_splits": ["train"],
                     "val_splits": ["val"], "test_splits": ["test"]}
                ],
            },
            "optim": {"batch_size": args.batch, "epochs": args.epochs, "steps_per_epoch": args.steps,
                      "warmup_steps": min(20, args.steps), "lr": 0.003},
            "val": {"max_images_per_source": 16},
        }
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default="/tmp/vitiseg_train_benchmark")
    ap.add_argument("--skin-root", default=str(REPO.parent / "shared" / "data" / "skin"))
    ap.add_argument("--procedural", action="store_true", help="procedural fixture instead of synth (CI smoke)")
    ap.add_argument("--n", type=int, default=400, help="synthetic samples to generate")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=60, help="steps per epoch")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=160)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-dice", type=float, default=0.5)
    ap.add_argument("--max-loss-ratio", type=float, default=0.8)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    work = Path(args.work)
    t0 = time.time()
    if args.procedural:
        data = write_procedural_dataset(work / "proc", n=max(args.n, 8), size=64, seed=args.seed)
        # procedural index has train/val only: evaluate on val
        eval_split = "val"
    else:
        data = work / "synth"
        subprocess.run(
            [sys.executable, "-m", "vitiseg.cli", "synth", "dataset", "--skin-root", args.skin_root, "--out",
             str(data), "--n", str(args.n), "--seed", str(args.seed), "--size", "256"],
            check=True, cwd=REPO,
        )
        eval_split = "test"
    t_data = time.time() - t0

    cfg = build_config(data, args)
    run = work / "run"
    t1 = time.time()
    s = train(cfg, run, progress=False)
    t_train = time.time() - t1
    hist = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]

    ids = read_ids(data / "index.csv", eval_split)
    t2 = time.time()
    summ = run_evaluation(str(run / "best"), data / "images", data / "masks", "classes", work / "eval", ids=ids,
                          device="auto", progress=False)
    t_eval = time.time() - t2
    m = summ["metrics"]

    print(f"{'epoch':>5} {'train_loss':>10} {'val_depig_dice':>14} {'val_skin_dice':>13}")
    for h in hist:
        v = h["val"]["sources"].get("synth", {})
        print(f"{h['epoch']:>5} {h['train_loss']:>10.4f} {v.get('depig_dice', float('nan')):>14.4f} "
              f"{v.get('skin_dice', float('nan')):>13.4f}")
    dep = m["depigmented"]["pooled_dice"]
    skin = m["skin"]["pooled_dice"]
    ratio = hist[-1]["train_loss"] / hist[0]["train_loss"]
    print(f"held-out '{eval_split}' split ({m['n_images']} images): depigmented pooled Dice {dep:.4f}, "
          f"skin pooled Dice {skin:.4f}, fraction MAE {m['fraction']['mae']:.4f}")
    print(f"loss ratio last/first epoch {ratio:.3f}; data {t_data:.0f} s, train {t_train:.0f} s "
          f"({s['steps_done']} steps), eval {t_eval:.0f} s")
    ok = ratio <= args.max_loss_ratio and dep >= args.min_dice
    print("PASS" if ok else f"FAIL (need loss ratio <= {args.max_loss_ratio} and Dice >= {args.min_dice})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
