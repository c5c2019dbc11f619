#!/usr/bin/env python
"""The issue-20 training recipe in one command, data generation included, resumable (re-run the same command).

1. renders the synthetic training set (``vitiseg synth dataset``; resumable, sample i a pure function of (seed, i));
2. trains ``research/2026-12-01-segmenter/configs/train_unet_lite0_issue20.yaml`` (ImageNet EfficientNet-Lite0
   encoder from the PyPI package, see :mod:`vitiseg.training.pretrained`; resumable from ``RUN/last.pt``;
   time-budgeted by the config's ``max_minutes`` with a time-based schedule, so the learning rate completes its decay
   on a slower or busier machine);
3. stage 2 (levers 4, 5 and 8 of ``research/2026-12-01-segmenter/RULE.md``): renders a hands-only synthetic set and
   a cohort-style training set on the skin sets' train photos (``scripts/cohort_training_set.py``), and fine-tunes the
   stage-1 ``last/`` weights for 600 steps with both added and small lesions weighted up in the loss
   (``configs/ft_small.yaml``, its ``init_weights``
   pointed at this run; the resolved config is written to ``RUN-hands.yaml``, the run to ``RUN-hands/``);
4. writes ``RUN/model/``: stage 2's ``last/`` weights (byte for byte) with the shipped decode in ``config.json``
   (flip average, hysteresis 0.6 / 0.4), and its ONNX export (``vitiseg model export``) for the base install.

Budget: <= 2 hours on 2 CPU cores in all; measured on an idle 2-core CPU: stage 1 70 min (data 83 s, training
68.8 min, ended by its 5,600-step budget before ``max_minutes``), stage 2 about 2.5 min of data (hands set 15 s, cohort
set 2 min) and 8-15 min of training (8 min for the same stage without lever 8's weights on a CPU shared
with rendering, 15 min with them on a CPU shared with two measurement runs). A GPU only makes it faster. Needs the ``train`` extra
(``pip install -e .[train]``) and the skin sets and real polygons under ``../shared/data``. It carries the levers
that ``research/2026-12-01-segmenter/RULE.md`` adopted; the shipped ``vitiseg-unet-lite0-v2`` is its stage 2 run.

    python scripts/train_issue20.py [--out runs/train/vitiseg-unet-lite0-issue20] [--workers 2] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = "research/2026-12-01-segmenter/configs/train_unet_lite0_issue20.yaml"
# must match the synth source of CONFIG (path) and its generation settings
SYNTH = {"out": "data_cache/synth_issue20", "n": 3000, "seed": 21, "size": 384, "extra": []}
STAGE2 = "research/2026-12-01-segmenter/configs/ft_small.yaml"
# must match the synth_hands and synth_cohort sources of STAGE2
SYNTH_HANDS = {"out": "data_cache/synth_hands", "n": 600, "seed": 22, "size": 384,
               "extra": ["--sets", "hgr_hands_subset", "--split", "train"]}
COHORT_TRAIN = {"out": "data_cache/cohort_train", "seed": 50}
DECODE = {"depigmented_threshold": 0.6, "depigmented_threshold_low": 0.4, "flip_average": True}


def _run(cmd: list[str], dry: bool) -> None:
    print("+", " ".join(cmd), flush=True)
    if not dry:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
        subprocess.run(cmd, check=True, cwd=REPO, env=env)


def _synth(py: str, spec: dict, skin_root: str, workers: int, dry: bool) -> None:
    _run([py, "-m", "vitiseg", "synth", "dataset", "--skin-root", skin_root, "--out", spec["out"], "--n", str(spec["n"]),
          "--seed", str(spec["seed"]), "--size", str(spec["size"]), "--workers", str(workers), *spec["extra"]], dry)


def stage2_config(out: str) -> str:
    """Write ``OUT-hands.yaml``: :data:`STAGE2` starting from ``OUT/last`` (2 threads, the recipe's name). Its path."""
    import yaml

    cfg = yaml.safe_load((REPO / STAGE2).read_text(encoding="utf-8"))
    cfg.update({"name": "vitiseg-unet-lite0-issue20", "threads": 2,
                "init_weights": f"{out}/last/model.safetensors"})
    path = f"{out}-hands.yaml"
    (REPO / path).parent.mkdir(parents=True, exist_ok=True)
    (REPO / path).write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def export_decoded(run: Path, out: Path, stage1: Path | None = None) -> str:
    """``run/last`` -> ``out`` with :data:`DECODE` in config.json; weights copied byte for byte. Returns the sha256.

    ``stage1``: the run stage 2 started from; its identity (fingerprint, steps, ImageNet encoder provenance) is
    recorded under ``training.stage1`` so the model's config.json names both stages."""
    from vitiseg.io.files import sha256_file
    from vitiseg.segmentation.artifact import load_model_config, write_model_config

    src = run / "last"
    cfg = load_model_config(src)
    training = dict(cfg.training)
    training["decode_from"] = {"path": str(src), "sha256": sha256_file(src / "model.safetensors")}
    if stage1 is not None:
        t1 = load_model_config(stage1 / "last").training
        training["stage1"] = {k: t1.get(k) for k in ("config_fingerprint", "config_source", "steps", "encoder_init")}
    new = cfg.model_copy(update={**DECODE, "training": training})
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src / "model.safetensors", out / "model.safetensors")
    write_model_config(out, new)
    if (src / "README.md").is_file():
        shutil.copyfile(src / "README.md", out / "README.md")
    return sha256_file(out / "model.safetensors")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/train/vitiseg-unet-lite0-issue20")
    ap.add_argument("--skin-root", default="../shared/data/skin")
    ap.add_argument("--workers", type=int, default=2, help="processes rendering the synthetic set")
    ap.add_argument("--dry-run", action="store_true")
    a = ap.parse_args(argv)
    py = sys.executable
    t0 = time.time()
    _synth(py, SYNTH, a.skin_root, a.workers, a.dry_run)
    t1 = time.time()
    _run([py, "-m", "vitiseg", "train", "--config", CONFIG, "--out", a.out, "--no-progress"], a.dry_run)
    t2 = time.time()
    _synth(py, SYNTH_HANDS, a.skin_root, a.workers, a.dry_run)
    _run([py, "scripts/cohort_training_set.py", "--skin-root", a.skin_root, "--out", COHORT_TRAIN["out"],
          "--seed", str(COHORT_TRAIN["seed"])], a.dry_run)
    stage2 = f"{a.out}-hands.yaml" if a.dry_run else stage2_config(a.out)
    _run([py, "-m", "vitiseg", "train", "--config", stage2, "--out", f"{a.out}-hands", "--no-progress"], a.dry_run)
    t3 = time.time()
    sha = None if a.dry_run else export_decoded(REPO / f"{a.out}-hands", REPO / a.out / "model", REPO / a.out)
    _run([py, "-m", "vitiseg", "model", "export", str(Path(a.out) / "model")], a.dry_run)  # the base install's ONNX
    if not a.dry_run:
        timing = {"synth_seconds": round(t1 - t0, 1), "train_call_seconds": round(t2 - t1, 1),
                  "stage2_seconds": round(t3 - t2, 1), "model_sha256": sha}
        (REPO / a.out / "recipe_timing.json").write_text(json.dumps(timing, indent=2) + "\n")
        print(json.dumps(timing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
