#!/usr/bin/env python
"""How visible are the labelled lesion pixels of a synthetic set? A ceiling check for the synthetic Dice target.

Every sample of ``vitiseg synth dataset`` is a pure function of (seed, index, settings), so it can be rendered again
without painting the depigmentation (``make_one(..., paint_lesions=False)``): the same background, class mask, camera
degradation and sensor noise. Both versions go through the same JPEG quality as the written file. For every pixel
labelled depigmented, the CIEDE2000 colour difference between the two (``skimage.color.deltaE_ciede2000`` on
``skimage.color.rgb2lab``, D65) says how much the lesion changed that pixel. Printed per split: the share of lesion
pixels changed by less than 1, 2, 3, 5 dE00, and the pooled Dice a perfect detector would reach if every pixel below
that change were undetectable (``2 (T - u) / (2 T - u)``, T lesion pixels, u of them below the cut) -- an upper
bound on what the synthetic test split can demand of a model, per pixel (a model also uses context, so faint pixels
inside a visible lesion are not hopeless).

The first three samples of each split are checked against the stored masks (the re-render must be exact).

    python research/2026-11-30-synth-visibility/synth_visibility.py --synth data_cache/synth_v3 --skin-root ../shared/data/skin --split test
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab


from vitiseg.io.images import read_mask
from vitiseg.synth.backgrounds import list_backgrounds
from vitiseg.synth.dataset import make_one

CUTS = (1.0, 2.0, 3.0, 5.0)


def _decode(jpeg: bytes) -> np.ndarray:
    return cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def lesion_delta_e(i: int, seed: int, size: int, by_set: dict, tone_shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """dE00 of every depigmented pixel of sample ``i`` against its lesion-free twin, and the class mask."""
    jpeg, cls, _ = make_one(i, seed, size, by_set, tone_shift)
    twin, cls2, _ = make_one(i, seed, size, by_set, tone_shift, paint_lesions=False)
    if not np.array_equal(cls, cls2):
        raise RuntimeError(f"sample {i}: the lesion-free twin has a different mask")
    les = cls == 2
    a, b = _decode(jpeg)[les], _decode(twin)[les]
    return deltaE_ciede2000(rgb2lab(a[None]), rgb2lab(b[None]))[0], cls


def summarise(de: np.ndarray, cuts: tuple[float, ...] = CUTS) -> dict[str, dict[str, float]]:
    """Share of lesion pixels below each cut and the per-pixel Dice ceiling ``2 (T - u) / (2 T - u)``."""
    t = int(de.size)
    out = {}
    for c in cuts:
        u = int((de < c).sum())
        out[f"{c:g}"] = {"share_below": u / t if t else 0.0, "dice_ceiling": 2 * (t - u) / (2 * t - u) if t else 1.0}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synth", default="data_cache/synth_v3", help="folder written by `vitiseg synth dataset`")
    ap.add_argument("--skin-root", default="../shared/data/skin")
    ap.add_argument("--split", action="append", help="split(s) to measure (default: test)")
    ap.add_argument("--every", type=int, default=1, help="every N-th sample of the split")
    ap.add_argument("--json", help="write the figures here")
    a = ap.parse_args(argv)
    root = Path(a.synth)
    meta = json.loads((root / "dataset.json").read_text())
    if not str(meta.get("generator", "")).endswith("v3"):
        ap.error(f"{root}: made by {meta.get('generator')}; this code re-renders generator v3 only")
    by_set: dict = {}
    for r in list_backgrounds(a.skin_root, meta["sets"]):
        by_set.setdefault(r.set, []).append(r)
    with (root / "index.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    res = {}
    for split in a.split or ["test"]:
        ids = [r["id"] for r in rows if r["split"] == split][:: a.every]
        des = []
        for k, sid in enumerate(ids):
            de, cls = lesion_delta_e(int(sid[1:]), int(meta["seed"]), int(meta["size"]), by_set,
                                     float(meta.get("tone_shift", 0.0)))
            if k < 3 and not np.array_equal(cls, read_mask(root / "masks" / f"{sid}.png")):
                raise SystemExit(f"{sid}: re-rendered mask differs from the stored one (other code or settings)")
            des.append(de)
        de = np.concatenate(des) if des else np.zeros(0)
        res[split] = {"n_images": len(ids), "lesion_px": int(de.size), "median_dE00": float(np.median(de)) if de.size
                      else None, "cuts": summarise(de)}
        s = res[split]
        print(f"{split}: {s['n_images']} images, {s['lesion_px']} lesion px, median dE00 {s['median_dE00']:.1f}")
        print("| change below (dE00) | share of lesion pixels | per-pixel Dice ceiling |\n|---|---|---|")
        for c, v in s["cuts"].items():
            print(f"| {c} | {100 * v['share_below']:.2f} % | {v['dice_ceiling']:.4f} |")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
