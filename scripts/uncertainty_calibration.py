#!/usr/bin/env python
"""How well ``uncertain_share`` (the per-photo flag of ``vitiseg run``) predicts the error of the depigmented fraction.

For every ``--stride``-th image of the chosen splits of a synthetic dataset (``vitiseg synth dataset``; exact class
masks), the photo is segmented as in ``vitiseg run`` (:func:`vitiseg.segmentation.base.segment_photo`, which reports
the ambiguous pixels of :meth:`vitiseg.segmentation.decode.NetworkSegmenter.predict_with_ambiguity`). Per photo:

- ``fraction error`` = |measured - true| depigmented fraction (percentage points), both = depigmented / skin pixels
  (measured: of the predicted skin; true: of the ground-truth skin);
- ``uncertain_share`` = ambiguous pixels / predicted skin pixels (the ``photos.csv`` column).

Prints, per split, a markdown table of the error by ``uncertain_share`` bin (n, mean error, share of photos with
error > 10 pp) and the Spearman correlation of share and error. The model card's uncertainty figures come from this
script.

    .venv/bin/python scripts/uncertainty_calibration.py --model vitiseg/models/vitiseg-unet-mnv2 --synth data_cache/synth_v3
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from scipy import stats

os.environ.setdefault("HF_HUB_OFFLINE", "1")

BIN_EDGES = (0.0, 0.02, 0.05, 0.10, 0.20)  # lower edges of the uncertain_share bins; the last bin is open


def bin_label(lo: float, hi: float | None) -> str:
    return f">= {100 * lo:.0f} %" if hi is None else (f"< {100 * hi:.0f} %" if lo == 0 else
                                                      f"{100 * lo:.0f}-{100 * hi:.0f} %")


def calibration_table(share: np.ndarray, err_pp: np.ndarray) -> dict:
    """Error of the depigmented fraction by ``uncertain_share`` bin.

    ``share``: ``(N,)`` uncertain shares in [0, 1]; ``err_pp``: ``(N,)`` absolute fraction errors in percentage
    points. Returns ``{"bins": [{"bin", "n", "mean_err_pp", "over_10pp_pct"}, ...], "spearman": rho}``; empty bins
    have NaN statistics; rho is NaN below 3 photos."""
    share = np.asarray(share, dtype=np.float64)
    err = np.asarray(err_pp, dtype=np.float64)
    bins = []
    edges = list(BIN_EDGES) + [None]
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = share >= lo if hi is None else (share >= lo) & (share < hi)
        bins.append({"bin": bin_label(lo, hi), "n": int(m.sum()),
                     "mean_err_pp": float(err[m].mean()) if m.any() else float("nan"),
                     "over_10pp_pct": float(100.0 * (err[m] > 10).mean()) if m.any() else float("nan")})
    rho = float(stats.spearmanr(share, err).statistic) if share.size >= 3 else float("nan")
    return {"bins": bins, "spearman": rho}


def measure(model: str, synth: Path, split: str, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(uncertain_share, fraction error in pp) for every ``stride``-th image of ``split``, in index order."""
    from tqdm import tqdm

    from vitiseg.config import SegmentationConfig
    from vitiseg.evaluation.runner import default_work_long_side, read_ids
    from vitiseg.io.images import read_mask, read_rgb
    from vitiseg.segmentation.base import segment_photo
    from vitiseg.segmentation.load import load_segmenter

    seg = load_segmenter(SegmentationConfig(model=model, device="cpu"))
    if not hasattr(seg, "predict_with_ambiguity"):
        raise SystemExit(f"{model}: no probabilities, so no uncertain_share (a U-Net model folder is needed)")
    ids = read_ids(synth / "index.csv", split)[::stride]
    shares, errs = [], []
    work = default_work_long_side()
    for i in tqdm(ids, desc=split, unit="img"):
        img = next(synth.glob(f"images/{i}.*"))
        gt = read_mask(synth / "masks" / f"{i}.png")
        gt = gt[..., 0] if gt.ndim == 3 else gt
        res = segment_photo(read_rgb(img), seg, work)  # as vitiseg run does; synthetic photos are below the working size
        pred, amb = res.classes, res.ambiguous
        skin_p, skin_t = int((pred >= 1).sum()), int((gt >= 1).sum())
        if skin_p == 0 or skin_t == 0:
            continue  # no fraction defined (the pipeline reports such a photo as an error)
        shares.append(float(amb.sum()) / skin_p)
        errs.append(100.0 * abs(float((pred == 2).sum()) / skin_p - float((gt == 2).sum()) / skin_t))
    return np.array(shares), np.array(errs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="default", help="U-Net model folder or 'default'")
    ap.add_argument("--synth", required=True, help="synthetic dataset folder (index.csv, images/, masks/)")
    ap.add_argument("--splits", default="val,test", help="comma-separated splits of index.csv")
    ap.add_argument("--stride", type=int, default=3, help="every N-th image of each split (default 3)")
    ap.add_argument("--json", help="also write the numbers here")
    a = ap.parse_args(argv)
    res = {}
    for split in a.splits.split(","):
        share, err = measure(a.model, Path(a.synth), split, max(1, a.stride))
        res[split] = calibration_table(share, err)
    splits = list(res)
    print("| uncertain_share | " + " | ".join(f"{s}: n, error (share > 10 pp)" for s in splits) + " |")
    print("|---|" + "---|" * len(splits))
    for k, b in enumerate(res[splits[0]]["bins"]):
        cells = [f"{res[s]['bins'][k]['n']}, {res[s]['bins'][k]['mean_err_pp']:.1f} pp "
                 f"({res[s]['bins'][k]['over_10pp_pct']:.0f} %)" for s in splits]
        print(f"| {b['bin']} | " + " | ".join(cells) + " |")
    print("Spearman correlation with the error: " + ", ".join(f"{res[s]['spearman']:.2f} ({s})" for s in splits))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
