"""``vitiseg segment``: class masks for a flat folder of images (for evaluating segmentation on any image set).

Each ``IMAGES_DIR/<stem>.<ext>`` gives ``OUT/<stem>.png``: ``(H, W) uint8`` classes 0 background, 1 healthy skin,
2 depigmented skin, at the image's own resolution (the segmenter runs at the working size of the config and its
labels are resized back with nearest-neighbour). Images already done are skipped on a re-run; failures are listed
in ``OUT/failures.csv`` and make the exit code 1.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import cv2
import pandas as pd
from tqdm import tqdm

from .config import ConfigError, load_config
from .images import IMAGE_SUFFIXES, ImageReadError, atomic_write_text, read_rgb, resize_long_side, write_png
from .normalise import normalise
from .pipeline import _versions, overrides_from_args
from .segment import load_segmenter

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", type=Path, help="flat folder of images")
    p.add_argument("--out", type=Path, required=True, help="folder for <stem>.png class masks")
    p.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml)")
    p.add_argument("--model", help="'default', 'classical' or a model folder")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--normalise", choices=["shades_of_grey", "grey_world", "none"])
    p.add_argument("--overwrite", action="store_true", help="redo masks that already exist")


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config, overrides_from_args(args))
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    files = sorted(p for p in args.images.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        log.error("no images (%s) in %s", ", ".join(IMAGE_SUFFIXES), args.images)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    seg = load_segmenter(cfg.segmentation)
    failures = []
    for f in tqdm(files, desc="segment", unit="img"):
        dst = args.out / f"{f.stem}.png"
        if dst.exists() and not args.overwrite:
            continue
        try:
            rgb = read_rgb(f, cfg.io.max_pixels)
            h, w = rgb.shape[:2]
            work = resize_long_side(rgb, cfg.io.work_long_side)
            cls = seg.predict(normalise(work, cfg.normalise))
            if cls.shape != (h, w):
                cls = cv2.resize(cls, (w, h), interpolation=cv2.INTER_NEAREST)
            write_png(dst, cls)
        except (ImageReadError, ValueError, OSError) as exc:
            log.error("%s: %s", f.name, exc)
            failures.append({"path": f.name, "error": str(exc)})
    atomic_write_text(args.out / "failures.csv", pd.DataFrame(failures, columns=["path", "error"]).to_csv(index=False))
    atomic_write_text(args.out / "segment.json", json.dumps(
        {"model": seg.identity, "config": cfg.model_dump(), "versions": _versions(), "images": len(files),
         "failed": len(failures)}, indent=2, default=str))
    return 1 if failures else 0
