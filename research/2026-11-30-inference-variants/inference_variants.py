#!/usr/bin/env python
"""Measure inference-time variants of a U-Net artifact on validation data: working size, flip averaging,
multi-scale averaging and hole filling (the table "Experiments not adopted" of the model card, session 5).

For every photo the class probabilities are computed at each working size in ``--scales`` (long side, px), with and
without a horizontal flip (flipped back before averaging), and decoded with the artifact's own rule
(:func:`vitiseg.segmentation.decode.decode_probs`) for each variant:

- ``s<N>``: size N only; ``s<N>+flip``: size N, mean of plain and flipped probabilities;
- ``ms`` / ``ms+flip``: mean over all sizes (and flips);
- ``s<N>+flip4`` (with ``--flip4``): size N, mean over the photo and its left-right, up-down and two-axis mirrors;
- ``<variant>+fill``: holes of the depigmented mask (``scipy.ndimage.binary_fill_holes``) that lie in skin set to
  depigmented (off with ``--no-fill``);
- ``<variant> hH/lL`` for each ``--hysteresis H:L``: hysteresis decode (:func:`vitiseg.segmentation.decode.decode_probs` with
  threshold H and low threshold L).

The variants need the network's plain probabilities: pass a model folder whose ``config.json`` has ``flip_average``
false (a copy of the shipped one with that key changed).

KIND ``skin`` marks lesion-free skin photos (masks = skin masks): there the table gives the mean predicted depigmented
share of predicted skin and the number of photos above 5 % (false alarms), instead of Dice.

Pooled depigmented Dice per dataset, and for ``classes`` masks the mean absolute and signed error of the depigmented
fraction (pp). Photos are colour-normalised as the pipeline does. Prints a markdown table; ``--json`` writes it.

    python research/2026-11-30-inference-variants/inference_variants.py --model vitiseg/models/vitiseg-unet-mnv2 \\
        --data synth:classes:data_cache/synth_v3:runs/train/vitiseg-unet-mnv2-cpu6/splits/synth_val.txt --every 2 \\
        --data real:lesion:../shared/data/real_vitiligo_dev:runs/train/vitiseg-unet-mnv2-cpu6/splits/real_polygons_val.txt \\
        --scales 288,320,384
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage as ndi
from tqdm import tqdm

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vitiseg.evaluation.metrics import dice_iou, overlap_counts
from vitiseg.evaluation.runner import list_items, read_ids
from vitiseg.io.images import read_mask, read_rgb
from vitiseg.segmentation.decode import decode_probs
from vitiseg.segmentation.unet import UNetSegmenter
from vitiseg.colour import normalise


def variant_classes(seg: UNetSegmenter, rgb: np.ndarray, scales: list[int],
                    hysteresis: list[tuple[float, float]] = (), fill: bool = True,
                    flip4: bool = False) -> dict[str, np.ndarray]:
    """``(H, W) uint8`` classes of every variant for one colour-normalised ``(H, W, 3) uint8`` RGB photo.

    ``flip4`` adds ``s<N>+flip4``: the mean over the photo, its left-right, up-down and two-axis mirror images."""
    probs: dict[tuple[int, bool], np.ndarray] = {}
    for size in scales:
        probs[(size, False)] = seg.predict_probs(rgb, long_side=size)
        probs[(size, True)] = seg.predict_probs(np.ascontiguousarray(rgb[:, ::-1]), long_side=size)[:, :, ::-1]
    avg: dict[str, np.ndarray] = {}
    for size in scales:
        avg[f"s{size}"] = probs[(size, False)]
        avg[f"s{size}+flip"] = (probs[(size, False)] + probs[(size, True)]) / 2
        if flip4:
            ud = seg.predict_probs(np.ascontiguousarray(rgb[::-1]), long_side=size)[:, ::-1]
            both = seg.predict_probs(np.ascontiguousarray(rgb[::-1, ::-1]), long_side=size)[:, ::-1, ::-1]
            avg[f"s{size}+flip4"] = (probs[(size, False)] + probs[(size, True)] + ud + both) / 4
    if len(scales) > 1:
        avg["ms"] = sum(probs[(s, False)] for s in scales) / len(scales)
        avg["ms+flip"] = sum(probs.values()) / len(probs)
    out: dict[str, np.ndarray] = {}
    for name, p in avg.items():
        c = decode_probs(p, seg.cfg.depigmented_threshold, seg.cfg.depigmented_threshold_low)
        out[name] = c
        if fill:
            filled = c.copy()
            filled[ndi.binary_fill_holes(c == 2) & (c >= 1)] = 2
            out[f"{name}+fill"] = filled
        for high, low in hysteresis:
            out[f"{name} h{high:g}/l{low:g}"] = decode_probs(p, high, low)
    return out


def accumulate(acc: dict[str, dict[str, float]], classes: dict[str, np.ndarray], gt: np.ndarray, kind: str) -> None:
    """Add one photo's TP/FP/FN (and fraction errors for ``classes`` masks) to ``acc`` per variant; for ``skin``
    (lesion-free) photos its predicted depigmented share of predicted skin."""
    g = gt == 2 if kind == "classes" else gt > 127
    for name, c in classes.items():
        a = acc.setdefault(name, {"tp": 0, "fp": 0, "fn": 0, "abs": 0.0, "signed": 0.0, "n_frac": 0,
                                  "share": 0.0, "n_share": 0, "n_over5": 0})
        p = c == 2
        if kind == "skin":
            share = p.sum() / max(int((c >= 1).sum()), 1)
            a["share"] += share
            a["n_share"] += 1
            a["n_over5"] += int(share > 0.05)
            continue
        tp, fp, fn = overlap_counts(p, g)
        a["tp"] += tp
        a["fp"] += fp
        a["fn"] += fn
        if kind == "classes" and (gt >= 1).any():
            err = p.sum() / max(int((c >= 1).sum()), 1) - g.sum() / int((gt >= 1).sum())
            a["abs"] += abs(err)
            a["signed"] += err
            a["n_frac"] += 1


def finish(acc: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    res = {}
    for name, a in acc.items():
        if a["n_share"]:
            res[name] = {"mean_depigmented_share_pct": 100 * a["share"] / a["n_share"], "photos_over_5pct": a["n_over5"]}
            continue
        r: dict[str, Any] = {"dice": dice_iou(int(a["tp"]), int(a["fp"]), int(a["fn"]))[0]}
        if a["n_frac"]:
            r["fraction_mae_pp"] = 100 * a["abs"] / a["n_frac"]
            r["fraction_bias_pp"] = 100 * a["signed"] / a["n_frac"]
        res[name] = r
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="vitiseg/models/vitiseg-unet-mnv2")
    ap.add_argument("--data", action="append", required=True,
                    help="NAME:KIND:DIR[:IDS] with DIR/images and DIR/masks; KIND classes or lesion; IDS a .txt/.csv")
    ap.add_argument("--every", type=int, default=1, help="use every N-th photo of each dataset")
    ap.add_argument("--scales", default="320,384", help="working sizes (long side, px), comma-separated")
    ap.add_argument("--hysteresis", action="append", default=[], metavar="HIGH:LOW",
                    help="also decode by hysteresis with these thresholds (repeatable)")
    ap.add_argument("--no-fill", action="store_true", help="leave out the hole-filling variants")
    ap.add_argument("--flip4", action="store_true", help="also average over the up-down mirrors (4 passes per size)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    seg = UNetSegmenter.load(args.model, device="cpu")
    if seg.cfg.flip_average:
        ap.error(f"{args.model} already averages over flips (flip_average in config.json): the variants need the "
                 "plain probabilities; use a copy with flip_average false")
    scales = [int(x) for x in args.scales.split(",")]
    hyst = [(float(h), float(lo)) for h, lo in (x.split(":") for x in args.hysteresis)]
    results: dict[str, Any] = {"model_sha256": seg.identity["sha256"], "scales": scales, "datasets": {}}
    for spec in args.data:
        name, kind, root, *ids = spec.split(":")
        if kind not in ("classes", "lesion", "skin"):
            ap.error(f"--data {spec}: KIND must be classes, lesion or skin")
        items = list_items(Path(root) / "images", Path(root) / "masks", read_ids(ids[0]) if ids else None)
        items = items[:: args.every]
        acc: dict[str, dict[str, float]] = {}
        for it in tqdm(items, desc=name, disable=args.quiet):
            rgb = normalise(read_rgb(it.image), seg.cfg.colour_normalisation)
            gt = read_mask(it.mask)
            accumulate(acc, variant_classes(seg, rgb, scales, hyst, not args.no_fill, args.flip4),
                       gt[..., 0] if gt.ndim == 3 else gt, kind)
        results["datasets"][name] = {"n_images": len(items), "kind": kind, "variants": finish(acc)}
    names = list(next(iter(results["datasets"].values()))["variants"])
    lines = ["| variant | " + " | ".join(f"{d} {'false alarms' if v['kind'] == 'skin' else 'Dice'} (n={v['n_images']})" for d, v in results["datasets"].items()) + " |",
             "|---|" + "---|" * len(results["datasets"])]
    for n in names:
        cells = []
        for v in results["datasets"].values():
            r = v["variants"][n]
            if "dice" not in r:
                cells.append(f"{r['mean_depigmented_share_pct']:.2f} % ({r['photos_over_5pct']} > 5 %)")
                continue
            cell = f"{r['dice']:.4f}"
            if "fraction_mae_pp" in r:
                cell += f" (fraction MAE {r['fraction_mae_pp']:.2f} pp, bias {r['fraction_bias_pp']:+.2f})"
            cells.append(cell)
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
