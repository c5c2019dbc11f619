#!/usr/bin/env python
"""Reproduce the shipped model ``vitiseg/models/vitiseg-unet-mnv2`` with one command: every stage of its recipe in order.

Renders the synthetic sets, runs the seven training stages (each starts from the previous stage's weights), averages
the weights of stage 6's last and stage 7's best and last epochs (``scripts/average_models.py``), copies that
artifact into ``--install`` (default: nowhere; pass ``vitiseg/models/vitiseg-unet-mnv2`` to replace the shipped one) and
measures the model card's numbers. Finished steps are skipped on a re-run (the synthetic sets and the training runs are
resumable), so an interrupted reproduction continues where it stopped.

Stages 1-2 and 6-7 of the shipped model ran on a 2-core CPU, stages 3-5 on one H100; every stage ends on its ``max_minutes``
budget, so other hardware reproduces the recipe, not the exact weights (see the model card). ``--dry-run`` prints the
commands only.

    python scripts/reproduce_model.py --skin-root ../shared/data/skin [--workers 16] [--install vitiseg/models/vitiseg-unet-mnv2]
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
log = logging.getLogger("reproduce_model")


@dataclass(frozen=True)
class Synth:
    out: str
    n: int
    seed: int


@dataclass(frozen=True)
class Stage:
    config: str
    run: str
    synth: Synth
    export: str = "best"  # the run's artifact that the next stage / the shipped model takes: best/ or last/


# stage 1 of the shipped model saw generator-v1 data; the code renders generator v3 now (model card, limitations)
SYNTH_V1 = Synth("data_cache/synth_unet", 3000, 7)
SYNTH_V3 = Synth("data_cache/synth_v3", 3000, 7)
SYNTH_V4 = Synth("data_cache/synth_v4", 18000, 11)

STAGES = [
    Stage("configs/train/train_unet_mnv2.yaml", "runs/train/vitiseg-unet-mnv2", SYNTH_V1),
    Stage("configs/train/train_unet_mnv2_stage2.yaml", "runs/train/vitiseg-unet-mnv2-stage2", SYNTH_V3),
    Stage("configs/train/train_unet_mnv2_gpu.yaml", "runs/train/vitiseg-unet-mnv2-gpu", SYNTH_V4),
    Stage("configs/train/train_unet_mnv2_gpu2.yaml", "runs/train/vitiseg-unet-mnv2-gpu2", SYNTH_V4),
    Stage("configs/train/train_unet_mnv2_gpu3.yaml", "runs/train/vitiseg-unet-mnv2-gpu3", SYNTH_V4),
    # whole 384-px images at a low learning rate; its last epoch is shipped (no pick on the small val sample)
    Stage("configs/train/train_unet_mnv2_cpu6.yaml", "runs/train/vitiseg-unet-mnv2-cpu6", SYNTH_V3, export="last"),
    Stage("configs/train/train_unet_mnv2_cpu7.yaml", "runs/train/vitiseg-unet-mnv2-cpu7", SYNTH_V3, export="last"),
]
# the shipped model is the uniform weight average of these artifacts (scripts/average_models.py)
AVERAGE = ("runs/train/vitiseg-unet-mnv2-cpu6/last", "runs/train/vitiseg-unet-mnv2-cpu7/best",
           "runs/train/vitiseg-unet-mnv2-cpu7/last")
AVERAGE_OUT = "runs/train/vitiseg-unet-mnv2-avg7"
TEST_SYNTH = SYNTH_V3  # the model card's synthetic test split


def commands(skin_root: str, workers: int, install: str | None) -> list[list[str]]:
    """The reproduction as argument lists, in order (run from the repository root)."""
    exe = [sys.executable, "-m", "vitiseg"]
    cmds: list[list[str]] = []
    done: set[Synth] = set()
    for st in STAGES:
        if st.synth not in done:
            cmds.append(exe + ["synth", "dataset", "--skin-root", skin_root, "--out", st.synth.out, "--n",
                               str(st.synth.n), "--seed", str(st.synth.seed), "--size", "384",
                               "--workers", str(workers)])
            done.add(st.synth)
        cmds.append(exe + ["train", "--config", st.config, "--out", st.run, "--no-progress"])
    final = STAGES[-1].run
    artifact = f"{final}/{STAGES[-1].export}"
    if AVERAGE:
        cmds.append([sys.executable, "scripts/average_models.py", "--out", AVERAGE_OUT, *AVERAGE])
        artifact = AVERAGE_OUT
    if install:
        cmds.append(["cp", f"{artifact}/config.json", f"{artifact}/model.safetensors", install])
        cmds.append(exe + ["model", "export", install])  # the ONNX file the base install runs
    model = install or artifact
    cmds.append([sys.executable, "scripts/evaluate_model_card.py", "--model", model, "--model", "classical", "--run",
                 final, "--synth", TEST_SYNTH.out, "--out", "runs/eval/card", "--quiet"]
                + [a for st in STAGES for a in ("--train-run", st.run)]
                + (["--card", f"{install}/README.md"] if install else []))
    return cmds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skin-root", default="../shared/data/skin", help="folder with the real skin sets")
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="processes rendering the synthetic sets")
    ap.add_argument("--install", help="copy the final artifact here and update its model card (e.g. vitiseg/models/vitiseg-unet-mnv2)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands only")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cmds = commands(a.skin_root, a.workers, a.install)
    for c in cmds:
        line = " ".join(shlex.quote(x) for x in c)
        if a.dry_run:
            print(line)
            continue
        log.info("running: %s", line)
        if c[0] == "cp":
            for src in c[1:-1]:
                shutil.copy2(REPO / src, REPO / c[-1])
            continue
        rc = subprocess.call(c, cwd=REPO)
        if rc != 0:
            log.error("step failed with exit code %d: %s (re-run to resume)", rc, line)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
