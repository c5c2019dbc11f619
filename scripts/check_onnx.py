#!/usr/bin/env python
"""Full check of a model folder's ONNX export against its PyTorch weights (needs ``vitiseg[train]``; prints a table).

On ``--n`` photos of different sizes and aspect ratios (real skin photos, real vitiligo photos, synthetic lesions on
real skin and on procedural body parts; :func:`vitiseg.evaluation.backend_agreement.agreement_photos`) both backends
measure each photo as ``vitiseg run`` does; the export passes when on every photo the class masks agree on at least
``--min-agreement`` of the pixels and the depigmented fractions differ by at most ``--max-fraction-pp`` percentage
points. Exit code 0 pass, 1 fail.

    python scripts/check_onnx.py [--model vitiseg/models/vitiseg-unet-mnv2] [--data ../shared/data] [--n 50]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from vitiseg.config import SegmentationConfig
from vitiseg.evaluation.backend_agreement import agreement_photos, compare
from vitiseg.segmentation.artifact import default_model_dir
from vitiseg.segmentation.load import load_segmenter

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=default_model_dir())
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data",
                    help="research data (skin/, real_vitiligo_dev/); procedural photos only without it")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-agreement", type=float, default=0.999)
    ap.add_argument("--max-fraction-pp", type=float, default=0.1)
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    onnx = load_segmenter(SegmentationConfig(model=str(a.model), backend="onnx"), threads=1)
    torch = load_segmenter(SegmentationConfig(model=str(a.model), backend="torch", device="cpu"), threads=1)
    photos = agreement_photos(a.data if a.data.is_dir() else None, a.n, a.seed)
    rows = compare(onnx, torch, photos)
    print("| photo | size | pixels agreeing | fraction ONNX | fraction PyTorch | difference (pp) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.name} | {r.shape[1]}x{r.shape[0]} | {100 * r.pixels:.4f} % | {100 * r.fraction_a:.3f} % | "
              f"{100 * r.fraction_b:.3f} % | {r.fraction_diff_pp:.4f} |")
    agree = np.array([r.pixels for r in rows])
    diffs = np.array([r.fraction_diff_pp for r in rows])
    sizes = {r.shape for r in rows}
    print(f"\n{len(rows)} photos ({len(sizes)} sizes), model {onnx.identity['name']} "
          f"(model.onnx {onnx.identity['onnx_sha256'][:12]}, weights {onnx.identity['sha256'][:12]})")
    print(f"pixels agreeing: min {100 * agree.min():.4f} %, mean {100 * agree.mean():.4f} %; photos identical: "
          f"{int((agree == 1).sum())} of {len(rows)}")
    print(f"depigmented fraction difference: max {diffs.max():.2g} pp, mean {diffs.mean():.2g} pp")
    ok = bool(agree.min() >= a.min_agreement and diffs.max() <= a.max_fraction_pp)
    print(f"{'PASS' if ok else 'FAIL'}: every photo >= {100 * a.min_agreement:g} % of pixels and <= "
          f"{a.max_fraction_pp:g} pp")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
