#!/usr/bin/env python
"""How much the TRuE-V facial area changes F-VASI against counting all skin of a face photo.

For FASSEG frontal faces (binary skin masks: face, forehead, ears, neck; eyes, brows and mouth excluded by the
labels), build the facial area with :func:`vitiseg.face.facial_area`, paint synthetic depigmented lesions on the
ground-truth skin and compare, on these exact class maps (no segmentation model involved):

* ``F-VASI TRuE-V`` = 3 x depigmented / skin, both counted inside the facial area;
* ``F-VASI all skin`` = 3 x depigmented / skin over the whole photo (what ``--face-area skin`` counts).

Lesion scenarios (lesions from :mod:`vitiseg.synth.shapes` when available, else smoothed-noise blobs):

* ``uniform``: "blobs" layout on all skin, 15 % of all skin depigmented;
* ``periorif``: "periorificial" layout (around eyes and mouth, the classic facial pattern), 15 % of all skin;
* ``face_only``: "blobs" layout on the facial-area skin only (neck and ears clear), 15 % of facial skin.

Also reports the share of the "all skin" area that the TRuE-V definition removes, split into: neck (outside the
facial area, below the mouth corners), ears / scalp / temple (outside, above the mouth corners) and lips / eyelids
(inside the face oval). Usage::

    python scripts/face_area_vs_skin.py ../shared/data/skin/fasseg_face_skin [--n 12] [--seed 0] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from vitiseg import face
from vitiseg.scoring.vasi import fraction

TARGET = 0.15
HAND_UNITS_FACE = 3.0

try:
    from vitiseg.synth import shapes as _shapes

    LESIONS = "vitiseg.synth.shapes (make_layout + solve_threshold + classes_from_alpha)"
except ImportError:  # pragma: no cover - the synth package is optional here
    _shapes = None
    LESIONS = "own smoothed-noise blobs (vitiseg.synth not importable)"


def lesions(skin: np.ndarray, kind: str, target: float, rng: np.random.Generator) -> np.ndarray:
    """(H, W) bool depigmented pixels inside ``skin`` covering ~``target`` of it."""
    if _shapes is not None:
        layout = _shapes.make_layout(skin, rng, kind, follicle_density=0.0)
        _, alpha = _shapes.solve_threshold(layout, skin, target)
        return _shapes.classes_from_alpha(alpha, skin) == 2
    h, w = skin.shape
    f = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.04 * max(h, w))
    if kind == "periorificial":
        holes = face_holes(skin)
        f = f / (f.std() + 1e-9) - cv2.distanceTransform((~holes).astype(np.uint8), cv2.DIST_L2, 5) / (0.05 * max(h, w))
    thr = np.quantile(f[skin], 1 - target)
    return skin & (f > thr)


def face_holes(skin: np.ndarray) -> np.ndarray:
    """Holes of the skin mask (eyes, mouth) as (H, W) bool."""
    inv = (~skin).astype(np.uint8)
    n, lab = cv2.connectedComponents(inv)
    border = set(np.unique(np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])))
    return np.isin(lab, [i for i in range(1, n) if i not in border])


def f_vasi(skin: np.ndarray, dep: np.ndarray, area: np.ndarray | None) -> float:
    if area is not None:
        skin, dep = skin & area, dep & area
    return HAND_UNITS_FACE * fraction(int(skin.sum()), int(dep.sum()))


def removed_split(skin: np.ndarray, fa: face.FaceArea) -> dict[str, float]:
    lm = fa.landmarks.astype(np.float64)
    removed = skin & ~fa.mask
    oval = face.extended_oval(lm)
    inside_oval = face.fill_polygon(skin.shape, oval)  # same rasteriser as the mask
    u = lm[face.GLABELLA] - lm[face.MENTON]
    u /= np.linalg.norm(u)
    yy, xx = np.mgrid[0 : skin.shape[0], 0 : skin.shape[1]]
    height = (np.stack([xx, yy], -1) - (lm[61] + lm[291]) / 2) @ u
    n = skin.sum()
    return {
        "removed_pct": 100 * removed.sum() / n,
        "neck_pct": 100 * (removed & ~inside_oval & (height < 0)).sum() / n,
        "ears_scalp_pct": 100 * (removed & ~inside_oval & (height >= 0)).sum() / n,
        "lips_eyelids_pct": 100 * (removed & inside_oval).sum() / n,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("fasseg", type=Path, help="fasseg_face_skin folder (images/, masks/)")
    ap.add_argument("--n", type=int, default=12, help="number of faces (evenly spread over the sorted list)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=None, help="also write the table as CSV")
    a = ap.parse_args(argv)
    images = sorted((a.fasseg / "images").glob("*"))
    if not images:
        print(f"no images under {a.fasseg / 'images'}", file=sys.stderr)
        return 2
    pick = [images[i] for i in np.linspace(0, len(images) - 1, min(a.n, len(images))).round().astype(int)]
    rows = []
    for k, path in enumerate(tqdm(pick, desc="faces")):
        rgb = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        skin = cv2.imread(str(a.fasseg / "masks" / (path.stem + ".png")), cv2.IMREAD_GRAYSCALE) > 0
        fa = face.facial_area(rgb, "front")
        row: dict = {"face": path.stem, "status": fa.status}
        if fa.status != "ok":
            rows.append(row)
            continue
        row.update(removed_split(skin, fa))
        rng = np.random.default_rng([a.seed, k])
        scen = {
            "uniform": lesions(skin, "blobs", TARGET, rng),
            "periorif": lesions(skin, "periorificial", TARGET, rng),
            "face_only": lesions(skin & fa.mask, "blobs", TARGET, rng),
        }
        for name, dep in scen.items():
            tv, al = f_vasi(skin, dep, fa.mask), f_vasi(skin, dep, None)
            row[f"{name}_truev"], row[f"{name}_all"], row[f"{name}_diff"] = tv, al, al - tv
        rows.append(row)
    df = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 30)
    print(f"lesions: {LESIONS}; target depigmented share {TARGET:.0%}; F-VASI = 3 x fraction (range 0-3)")
    print("diff = F-VASI(all skin) - F-VASI(TRuE-V facial area); *_pct = share of all-skin pixels removed")
    print(df.round(3).to_string(index=False))
    ok = df[df["status"] == "ok"]
    if len(ok):
        print("\nsummary over", len(ok), "faces (mean / min / max):")
        for c in [c for c in ok.columns if c.endswith(("_pct", "_diff"))]:
            print(f"  {c:18s} {ok[c].mean():7.3f} {ok[c].min():7.3f} {ok[c].max():7.3f}")
        for s in ("uniform", "periorif", "face_only"):
            rel = 100 * (ok[f"{s}_all"] - ok[f"{s}_truev"]) / ok[f"{s}_truev"]
            print(f"  {s + ' rel. %':18s} {rel.mean():7.1f} {rel.min():7.1f} {rel.max():7.1f}   "
                  f"(mean |diff| {ok[f'{s}_diff'].abs().mean():.3f})")
    if a.csv:
        df.to_csv(a.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
