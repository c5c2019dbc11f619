#!/usr/bin/env python
"""A cohort-style TRAINING set: ``vitiseg synth cohort`` on the skin sets' train photos, flattened into a ``classes``
folder that ``vitiseg train`` reads (:mod:`vitiseg.training.data`).

The cohort generator paints each patient's lesions on every body region and re-photographs them at each visit with
repigmentation (``--repigmentation patterns``: from the margin, perifollicular islands or both), so its week-12
photos carry the small, broken-up, fading lesions that the one-photo generator (``vitiseg synth dataset``) rarely
draws. ``--background-split train`` keeps every background out of the photos that any measurement uses (skin sets'
val / test, the cohorts' backgrounds).

Output ``OUT/``: ``images/<patient>_<visit>_<region>.jpg`` (hard links to the rendered photos, or copies),
``masks/<same>.png`` (the true classes, 0 background / 1 skin / 2 depigmented, uint8), ``index.csv`` (``id``,
``split`` = train, ``region``, ``visit``, ``fraction``); the rendered cohort stays in ``OUT/cohort`` and
``OUT/cohort_truth``. Re-running the same command skips the render when the cohort's truth is there.

    python scripts/cohort_training_set.py --skin-root ../shared/data/skin --out data_cache/cohort_train --seed 50
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from vitiseg.io.tables import write_csv_rows


def _link(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:  # another file system
        shutil.copyfile(src, dst)


def flatten(visits: Path, truth: Path, out: Path) -> list[dict]:
    """Every ``visits/<patient>/<visit>/<region>.jpg`` with its true mask -> ``out/images``, ``out/masks`` and the
    rows of ``out/index.csv`` (also written, last, so an interrupted flatten is redone)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    rows = []
    for photo in sorted(visits.glob("*/*/*.jpg")):
        pid, vid, region = photo.parts[-3], photo.parts[-2], photo.stem
        mask = truth / "masks" / pid / vid / f"{region}.png"
        if not mask.is_file():
            raise FileNotFoundError(f"no true mask {mask} for {photo}")
        sid = f"{pid}_{vid}_{region}"
        _link(photo, out / "images" / f"{sid}.jpg")
        _link(mask, out / "masks" / f"{sid}.png")
        m = cv2.imread(str(mask), cv2.IMREAD_UNCHANGED)
        skin = int(np.count_nonzero(m >= 1))
        rows.append({"id": sid, "split": "train", "region": region, "visit": vid,
                     "fraction": round(float(np.count_nonzero(m == 2)) / skin, 6) if skin else 0.0})
    write_csv_rows(rows, ["id", "split", "region", "visit", "fraction"], out / "index.csv")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skin-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=50)
    ap.add_argument("--preset", default="ruxolitinib_wk12")
    ap.add_argument("--patients", type=int, default=None)
    ap.add_argument("--repigmentation", default="patterns", choices=["threshold", "patterns"])
    a = ap.parse_args(argv)
    out = Path(a.out)
    visits, truth = out / "cohort", out / "cohort_truth"
    if not (truth / "summary.json").is_file():
        cmd = [sys.executable, "-m", "vitiseg", "synth", "cohort", "--skin-root", a.skin_root, "--out", str(visits),
               "--truth", str(truth), "--preset", a.preset, "--seed", str(a.seed), "--repigmentation",
               a.repigmentation, "--background-split", "train", "--no-progress"]
        if a.patients:
            cmd += ["--patients", str(a.patients)]
        rc = subprocess.run(cmd).returncode
        if rc:
            return rc
    rows = flatten(visits, truth, out)
    print(f"{len(rows)} training photos in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
