#!/usr/bin/env python
"""Paired comparison of two models on the same synthetic cohorts: per-visit F-VASI / T-VASI MAE difference with a
95 % bootstrap interval over patients (both visits of a patient resampled together, cohorts pooled).

One cohort of 50 patients moves T-VASI MAE as much as a model change does, so the difference of two models on the
same patients (paired) is the quantity to read, not two unpaired MAEs. Reads ``DIR/cohort_t*/cohort_accuracy.json``
(``per_visit``) written by ``scripts/dev_harness.py``.

    python research/2026-12-01-segmenter/paired.py runs/final4/shipped runs/final4/ft_whole [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def per_visit_errors(run: Path) -> dict[tuple[str, str, str], tuple[float, float]]:
    """(cohort, patient, visit) -> (|F-VASI error|, |T-VASI error|) over every cohort folder of one harness run."""
    out = {}
    for f in sorted(run.glob("cohort_*/cohort_accuracy.json")):
        for v in json.loads(f.read_text())["per_visit"]:
            out[(f.parent.name, v["patient_id"], v["visit_id"])] = (abs(v["f_vasi_run"] - v["f_vasi_true"]),
                                                                    abs(v["t_vasi_run"] - v["t_vasi_true"]))
    return out


def paired(base: Path, cand: Path, n_boot: int = 10000, seed: int = 0) -> dict:
    """MAE of each model and candidate - base differences (negative = candidate better) with bootstrap intervals."""
    a, b = per_visit_errors(base), per_visit_errors(cand)
    keys = sorted(set(a) & set(b))
    if not keys:
        raise SystemExit(f"no common cohort visits under {base} and {cand}")
    patients = sorted({k[:2] for k in keys})
    idx = {p: i for i, p in enumerate(patients)}
    # per-patient sums of the error difference and visit counts, so a bootstrap draw is a weighted sum
    diff = np.zeros((len(patients), 2))
    count = np.zeros(len(patients))
    for k in keys:
        i = idx[k[:2]]
        diff[i] += np.subtract(b[k], a[k])
        count[i] += 1
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(patients), size=(n_boot, len(patients)))
    boot = diff[draws].sum(axis=1) / count[draws].sum(axis=1)[:, None]
    res = {"n_visits": len(keys), "n_patients": len(patients), "n_boot": n_boot}
    for j, name in enumerate(("f_vasi", "t_vasi")):
        res[name] = {"mae_base": float(np.mean([a[k][j] for k in keys])),
                     "mae_cand": float(np.mean([b[k][j] for k in keys])),
                     "diff": float(diff[:, j].sum() / count.sum()),
                     "ci95": [float(np.percentile(boot[:, j], 2.5)), float(np.percentile(boot[:, j], 97.5))]}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("cand", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    r = paired(args.base, args.cand)
    print(f"{r['n_visits']} visits of {r['n_patients']} patients (paired, bootstrap over patients, {r['n_boot']} draws)")
    for name in ("f_vasi", "t_vasi"):
        d = r[name]
        print(f"{name} MAE {d['mae_base']:.3f} -> {d['mae_cand']:.3f}: difference {d['diff']:+.3f} "
              f"(95 % interval {d['ci95'][0]:+.3f} to {d['ci95'][1]:+.3f})")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
