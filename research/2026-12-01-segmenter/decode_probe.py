#!/usr/bin/env python
"""Probe for lever 3 (the decode operating point of a model): one network pass per photo of the development cohorts,
then every (high, low) hysteresis pair of a grid, scored against the cohorts' true masks.

Per photo: depigmented fraction = depigmented / (skin + depigmented) pixels of the predicted classes inside the true
scoring area (the truth's TRuE-V face area on face photos, the whole photo elsewhere), so the probe measures the
segmenter only (no landmarks, no region areas). Per visit: proxy F-VASI = 3 x face fraction, proxy T-VASI = sum of
hand units x fraction over the six body regions (``vitiseg/defaults/regions.yaml``), the truth's the same way from its
masks. Printed per pair: proxy F-VASI / T-VASI MAE, F-VASI90 and T-VASI50 rates minus truth (pp), region fraction bias
(pp) and lesion-free photos called > 5 %. A probe to choose at most two candidates for ``scripts/dev_harness.py``,
which decides (RULE.md); never run on test cohorts.

    python research/2026-12-01-segmenter/decode_probe.py --model runs/train/vitiseg-unet-lite0-issue20/model \\
        --cohort data_cache/cohort_s1 --cohort data_cache/cohort_s2
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from vitiseg.colour import normalise
from vitiseg.io.images import resize_long_side
from vitiseg.segmentation.decode import decode_probs
from vitiseg.segmentation.unet import UNetSegmenter

HAND_UNITS = {"neck": 6.0, "hands": 5.0, "upper_limbs": 14.0, "trunk": 26.0, "lower_limbs": 39.0, "feet": 7.0}
GRID = [(0.6, 0.4), (0.55, 0.35), (0.5, 0.3), (0.5, 0.25), (0.45, 0.25), (0.4, 0.2), (0.35, 0.15)]


def frac(classes: np.ndarray, area: np.ndarray) -> float:
    skin = int(((classes >= 1) & area).sum())
    return float(((classes == 2) & area).sum()) / skin if skin else 0.0


def probe(seg: UNetSegmenter, visits: Path) -> list[dict]:
    truth = visits.parent / f"{visits.name}_truth"
    rows = []
    for photo in sorted(visits.glob("*/*/*.jpg")):
        pid, vid, region = photo.parts[-3], photo.parts[-2], photo.stem
        true = cv2.imread(str(truth / "masks" / pid / vid / f"{region}.png"), cv2.IMREAD_UNCHANGED)
        rgb = resize_long_side(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), 1024)
        if true.shape != rgb.shape[:2]:
            true = cv2.resize(true, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        area = np.ones(true.shape, bool)
        if region.startswith("face"):
            fa = cv2.imread(str(truth / "face_area" / pid / vid / f"{region}.png"), cv2.IMREAD_UNCHANGED)
            area = cv2.resize(fa, true.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
        probs = seg.predict_probs(normalise(rgb, seg.colour_normalisation, None))
        rows.append({"cohort": visits.name, "patient": pid, "visit": vid, "region": region, "true": frac(true, area),
                     "pred": {f"{h}:{lo}": frac(decode_probs(probs, h, lo), area) for h, lo in GRID}})
    return rows


def summarise(rows: list[dict], key: str) -> dict:
    visits: dict[tuple, dict] = {}
    for r in rows:
        v = visits.setdefault((r["cohort"], r["patient"], r["visit"]), {"F": [0.0, 0.0], "T": [0.0, 0.0]})
        if r["region"].startswith("face"):
            v["F"] = [3 * r["true"], 3 * r["pred"][key]]
        elif r["region"] in HAND_UNITS:
            v["T"][0] += HAND_UNITS[r["region"]] * r["true"]
            v["T"][1] += HAND_UNITS[r["region"]] * r["pred"][key]
    out = {k: float(np.mean([abs(v[k][0] - v[k][1]) for v in visits.values()])) for k in ("F", "T")}
    for k, cut in (("F", 0.1), ("T", 0.5)):  # F-VASI90 (week-12 <= 10 % of baseline), T-VASI50
        hits = np.zeros((2, 2))
        for (c, p, vid), v in visits.items():
            if vid == "baseline" or (c, p, "baseline") not in visits:
                continue
            b = visits[(c, p, "baseline")][k]
            for i in (0, 1):
                hits[i] += [b[i] > 0 and v[k][i] <= cut * b[i], 1]
        out[f"{k}_rate_err_pp"] = 100 * float(hits[1][0] / hits[1][1] - hits[0][0] / hits[0][1])
    out["region_bias_pp"] = {reg: round(100 * float(np.mean([r["pred"][key] - r["true"] for r in rows
                                                              if r["region"] == reg])), 2)
                             for reg in sorted({r["region"] for r in rows})}
    out["lesion_free_over_5pct"] = sum(1 for r in rows if r["true"] == 0 and r["pred"][key] > 0.05)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--cohort", action="append", required=True)
    ap.add_argument("--out", help="write the per-photo rows and the summary as JSON here")
    a = ap.parse_args()
    torch.set_num_threads(2)
    seg = UNetSegmenter.load(a.model, device="cpu")
    rows = [r for c in a.cohort for r in probe(seg, Path(c))]
    summary = {key: summarise(rows, key) for key in rows[0]["pred"]}
    for key, s in summary.items():
        print(f"{key:>10}  F-MAE {s['F']:.3f}  T-MAE {s['T']:.3f}  F90 err {s['F_rate_err_pp']:+.0f}  "
              f"T50 err {s['T_rate_err_pp']:+.0f}  FA {s['lesion_free_over_5pct']}  bias {s['region_bias_pp']}")
    if a.out:
        Path(a.out).write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
