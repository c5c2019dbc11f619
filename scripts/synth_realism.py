#!/usr/bin/env python
"""Realism check of synthetic vitiligo: CIELAB lesion-vs-surrounding-skin contrast, real against synthetic.

    python scripts/synth_realism.py --real ../shared/data/real_vitiligo_dev --skin-root ../shared/data/skin \
        [--n-synth 400] [--seed 0] [--json OUT.json] [--write-stats]

For every photo, :func:`vitiseg.synth.appearance.measure_contrast` compares the lesion core (mask eroded 3 px) with a
ring 6-20 px outside it restricted to skin-coloured pixels, and reports dL*, dC*, dh (lesion minus skin; CIELAB D65
via :func:`vitiseg.colour.rgb_to_lab`) and the ITA of the ring skin. Real photos: the coarse polygons of real_vitiligo_dev, one value per
*source photo* (median over its rotated/flipped copies). Synthetic: ``vitiseg synth dataset`` samples rendered in
memory (same generator, seed, sets), measured with exactly the same function and settings on their class-2 mask.
Prints quantiles per ITA group (dark <= 10 deg < intermediate <= 41 deg < light) and the two-sample
Kolmogorov-Smirnov statistic (scipy.stats.ks_2samp) per group and pooled.

``--write-stats`` refits the appearance model (log dL, chroma ratio and hue shift linear in ITA, residual SD) from the
real measurements and writes vitiseg/synth/lesion_appearance.json (numbers only; no data is copied).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from scipy.stats import ks_2samp
from tqdm import tqdm

from vitiseg.io.images import read_mask, read_rgb
from vitiseg.synth.appearance import (
    ITA_GROUPS,
    AppearanceModel,
    fit_linear,
    ita_group,
    measure_contrast,
    save_model,
)

REPO = Path(__file__).resolve().parents[1]
KEYS = ("dL", "dC", "dh", "rho")


def source_of(name: str) -> str:
    """Source-photo key of a Roboflow export name: text between the first '-' and '.rf.'."""
    return name.split("-", 1)[1].split(".rf.")[0] if "-" in name and ".rf." in name else Path(name).stem


def measure_real(real_dir: Path) -> list[dict]:
    by = defaultdict(list)
    files = sorted((real_dir / "images").iterdir())
    for f in tqdm(files, desc="real", unit="img"):
        m = real_dir / "masks" / f"{f.stem}.png"
        if not m.is_file():
            continue
        c = measure_contrast(read_rgb(f), read_mask(m) > 127)
        if c is not None:
            by[source_of(f.name)].append(c)
    rows = []
    for src, cs in sorted(by.items()):
        row = {k: float(np.median([getattr(c, k) for c in cs])) for k in (*KEYS, "ita", "C_skin", "L_skin")}
        row["source"] = src
        rows.append(row)
    return rows


def measure_synth(skin_root: Path, n: int, seed: int, size: int = 384) -> list[dict]:
    from vitiseg.synth.backgrounds import list_backgrounds
    from vitiseg.synth.dataset import make_one

    by_set = defaultdict(list)
    for r in list_backgrounds(skin_root):
        by_set[r.set].append(r)
    rows = []
    for i in tqdm(range(n), desc="synthetic", unit="img"):
        jpg, cls, truth = make_one(i, seed, size, dict(by_set))
        if not 0.01 <= truth["fraction"] <= 0.6:
            continue  # like the real set: lesions with surrounding skin in view
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        c = measure_contrast(rgb, cls == 2)
        if c is not None:
            row = {k: float(getattr(c, k)) for k in (*KEYS, "ita", "C_skin", "L_skin")}
            row["source"] = truth["id"]
            rows.append(row)
    return rows


def quantiles(v: np.ndarray) -> str:
    if len(v) == 0:
        return "-"
    q = np.quantile(v, [0.1, 0.25, 0.5, 0.75, 0.9])
    return " ".join(f"{x:6.1f}" for x in q)


def compare(real: list[dict], synth: list[dict]) -> dict:
    out: dict = {}
    groups = [g for g, _, _ in ITA_GROUPS] + ["all"]
    print(f"{'group':13s} {'var':4s} {'n_real':>6s} {'n_syn':>6s}  {'real q10 q25 q50 q75 q90':36s}  "
          f"{'synthetic q10 q25 q50 q75 q90':36s}  KS     p")
    for g in groups:
        rr = [r for r in real if g == "all" or ita_group(r["ita"]) == g]
        ss = [s for s in synth if g == "all" or ita_group(s["ita"]) == g]
        out[g] = {}
        for k in ("dL", "dC", "dh"):
            a = np.array([r[k] for r in rr])
            b = np.array([s[k] for s in ss])
            ks = ks_2samp(a, b) if len(a) >= 2 and len(b) >= 2 else None
            qs = [0.1, 0.25, 0.5, 0.75, 0.9]
            out[g][k] = {
                "n_real": len(a), "n_synth": len(b),
                "real_quantiles_10_25_50_75_90": np.quantile(a, qs).tolist() if len(a) else None,
                "synth_quantiles_10_25_50_75_90": np.quantile(b, qs).tolist() if len(b) else None,
                "ks": None if ks is None else float(ks.statistic), "p": None if ks is None else float(ks.pvalue),
            }
            kss = "  -" if ks is None else f"{ks.statistic:5.2f} {ks.pvalue:6.3f}"
            print(f"{g:13s} {k:4s} {len(a):6d} {len(b):6d}  {quantiles(a):36s}  {quantiles(b):36s}  {kss}")
    return out


def write_stats(real: list[dict], path: Path, real_dir: Path) -> None:
    ita = np.array([r["ita"] for r in real])
    dL = np.array([r["dL"] for r in real])
    rho = np.array([r["rho"] for r in real])
    dh = np.array([r["dh"] for r in real])
    ok = np.array([r["C_skin"] for r in real]) > 12.0  # hue is ill-defined on near-grey skin
    model = AppearanceModel(
        dL=fit_linear(ita, dL, 2.0, 50.0, log=True), rho=fit_linear(ita, rho, 0.15, 1.3),
        dh=fit_linear(ita[ok], dh[ok], -45.0, 20.0),
        source=f"scripts/synth_realism.py --write-stats on {real_dir.name} ({len(real)} source photos, "
               f"{int(ok.sum())} with skin chroma > 12 for the hue fit)",
    )
    per_group = {}
    for g, _, _ in ITA_GROUPS:
        sel = np.array([ita_group(x) == g for x in ita])
        per_group[g] = {"n": int(sel.sum()), **{
            k: np.round(np.quantile(v[sel], [0.1, 0.5, 0.9]), 3).tolist() if sel.any() else None
            for k, v in (("dL", dL), ("rho", rho), ("dh", dh))}}
    save_model(model, path, extra={"per_ita_group_q10_q50_q90": per_group,
                                   "ita_range": [float(ita.min()), float(ita.max())]})
    print(f"wrote {path}: {model}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "real_vitiligo_dev")
    ap.add_argument("--skin-root", type=Path, default=REPO.parent / "shared" / "data" / "skin")
    ap.add_argument("--n-synth", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, default=None, help="write the comparison as JSON")
    ap.add_argument("--write-stats", action="store_true", help="refit vitiseg/synth/lesion_appearance.json")
    a = ap.parse_args()
    if not (a.real / "images").is_dir():
        print(f"real vitiligo folder not found: {a.real}", file=sys.stderr)
        return 2
    real = measure_real(a.real)
    if a.write_stats:
        write_stats(real, REPO / "vitiseg" / "synth" / "lesion_appearance.json", a.real)
        from vitiseg.synth.appearance import load_model

        load_model.cache_clear()
    synth = measure_synth(a.skin_root, a.n_synth, a.seed)
    print(f"\nreal: {len(real)} source photos; synthetic: {len(synth)} samples (fraction 1-60 %)")
    res = compare(real, synth)
    if a.json:
        a.json.write_text(json.dumps({"real": real, "synthetic_n": len(synth), "comparison": res}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
