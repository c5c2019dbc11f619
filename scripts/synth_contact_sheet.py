#!/usr/bin/env python
"""Contact sheet of real vitiligo photos next to synthetic ones, to judge realism by eye.

    python scripts/synth_contact_sheet.py OUT.png [--real ../shared/data/real_vitiligo_dev]
        [--skin-root ../shared/data/skin] [--n 12] [--seed 0] [--tile 192] [--outline]

Rows alternate: a row of real photos (one per source photo, chosen at random), then a row of synthetic samples from
the same generator as ``vitiseg synth dataset`` (only samples with 3-60 % of skin depigmented, so lesions are in
view). Tiles are labelled with the source and the healthy-skin ITA. ``--outline`` adds a second copy of every
synthetic tile with its exact class-2 outline in green and the skin outline in blue.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from vitiseg.io.images import read_mask, read_rgb, write_png
from vitiseg.synth.appearance import measure_contrast

REPO = Path(__file__).resolve().parents[1]


def _tile(rgb: np.ndarray, size: int, label: str) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = size / max(h, w)
    im = cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), 255, np.uint8)
    y0, x0 = (size - im.shape[0]) // 2, (size - im.shape[1]) // 2
    out[y0 : y0 + im.shape[0], x0 : x0 + im.shape[1]] = im
    cv2.rectangle(out, (0, size - 16), (size, size), (0, 0, 0), -1)
    cv2.putText(out, label[:30], (3, size - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.38, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _outline(rgb: np.ndarray, cls: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    for value, colour in (((cls > 0), (0, 0, 255)), ((cls == 2), (0, 255, 0))):
        cnt, _ = cv2.findContours(value.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, cnt, -1, colour, 1)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--real", type=Path, default=REPO.parent / "shared" / "data" / "real_vitiligo_dev")
    ap.add_argument("--skin-root", type=Path, default=REPO.parent / "shared" / "data" / "skin")
    ap.add_argument("--n", type=int, default=12, help="photos of each kind")
    ap.add_argument("--per-row", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tile", type=int, default=192)
    ap.add_argument("--outline", action="store_true")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)

    by_src: dict[str, list[Path]] = defaultdict(list)
    for f in sorted((a.real / "images").iterdir()):
        by_src[f.name.split("-", 1)[-1].split(".rf.")[0]].append(f)
    srcs = sorted(by_src)
    real_tiles = []
    for k in rng.permutation(len(srcs))[: a.n]:
        f = by_src[srcs[k]][0]
        rgb = read_rgb(f)
        c = measure_contrast(rgb, read_mask(a.real / "masks" / f"{f.stem}.png") > 127)
        real_tiles.append(_tile(rgb, a.tile, f"real {srcs[k][:14]} ITA {c.ita:.0f}" if c else f"real {srcs[k][:14]}"))

    from vitiseg.synth.backgrounds import list_backgrounds
    from vitiseg.synth.dataset import make_one

    sets = defaultdict(list)
    for r in list_backgrounds(a.skin_root):
        sets[r.set].append(r)
    syn_tiles, out_tiles = [], []
    i = 0
    while len(syn_tiles) < a.n and i < 50 * a.n:
        jpg, cls, t = make_one(i, a.seed, 384, dict(sets))
        i += 1
        if not 0.03 <= t["fraction"] <= 0.6:
            continue
        rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        lab = f"syn {t['set'][:6]} {t['lesion']['kind'][:6]} ITA {t['ita_deg']:.0f}"
        syn_tiles.append(_tile(rgb, a.tile, lab))
        out_tiles.append(_tile(_outline(rgb, cls), a.tile, f"truth {t['fraction']:.2f}"))

    rows = []
    pr = a.per_row
    for k in range(0, max(len(real_tiles), len(syn_tiles)), pr):
        for tiles in (real_tiles, syn_tiles, out_tiles if a.outline else []):
            chunk = tiles[k : k + pr]
            if chunk:
                chunk += [np.full_like(chunk[0], 255)] * (pr - len(chunk))
                rows.append(np.hstack(chunk))
        rows.append(np.full((6, pr * a.tile, 3), 255, np.uint8))
    sheet = np.vstack(rows)
    write_png(a.out, sheet)
    print(f"wrote {a.out} ({sheet.shape[1]}x{sheet.shape[0]}): {len(real_tiles)} real, {len(syn_tiles)} synthetic")
    return 0


if __name__ == "__main__":
    sys.exit(main())
