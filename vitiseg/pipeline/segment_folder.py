"""``vitiseg segment``: class masks for a flat folder of images (for evaluating segmentation on any image set).

Each ``IMAGES_DIR/<stem>.<ext>`` gives ``OUT/<stem>.png``: ``(H, W) uint8`` classes 0 background, 1 healthy skin,
2 depigmented skin, at the image's own resolution (the photo goes through
:func:`vitiseg.segmentation.base.segment_photo` at the configured working size, as in ``vitiseg run``, and its labels
are resized back with nearest-neighbour). Images already done are skipped on a re-run; failures are listed in
``OUT/failures.csv`` and make the exit code 1.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cv2
import pandas as pd
from tqdm import tqdm

from ..config import ConfigError, load_config
from ..io.files import atomic_write_text
from ..io.images import IMAGE_SUFFIXES, ImageReadError, image_size, read_rgb, write_png
from ..segmentation.artifact import ModelError
from ..segmentation.base import segment_photo
from ..segmentation.load import load_segmenter
from .provenance import describe_model, versions

log = logging.getLogger(__name__)


def segment_folder(images: Path, out: Path, config: Path | None = None, overrides: dict[str, Any] | None = None,
                   overwrite: bool = False, progress: bool = True) -> int:
    """Write ``OUT/<stem>.png`` for every image of ``images``; the exit code (0 ok, 1 some failed, 2 user error)."""
    try:
        cfg = load_config(config, overrides)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    files = sorted(p for p in images.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        log.error("no images (%s) in %s", ", ".join(IMAGE_SUFFIXES), images)
        return 2
    try:
        seg = load_segmenter(cfg.segmentation, cfg.normalise)
    except ModelError as exc:
        log.error("%s", exc)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    log.info("%d images; %s", len(files), describe_model(seg.identity))
    failures = []
    for f in tqdm(files, desc="segment", unit="img", disable=not progress):
        dst = out / f"{f.stem}.png"
        if dst.exists() and not overwrite:
            continue
        try:
            rgb = read_rgb(f, cfg.io.max_pixels, reduce_to_long_side=cfg.io.work_long_side)  # as vitiseg run reads it
            h, w = image_size(f)
            cls = segment_photo(rgb, seg, cfg.io.work_long_side).classes
            if cls.shape != (h, w):
                cls = cv2.resize(cls, (w, h), interpolation=cv2.INTER_NEAREST)
            write_png(dst, cls)
        except (ImageReadError, ValueError, OSError) as exc:
            log.error("%s: %s", f.name, exc)
            failures.append({"path": f.name, "error": str(exc)})
    atomic_write_text(out / "failures.csv", pd.DataFrame(failures, columns=["path", "error"]).to_csv(index=False))
    atomic_write_text(out / "segment.json", json.dumps(
        {"model": seg.identity, "config": cfg.model_dump(), "versions": versions(), "images": len(files),
         "failed": len(failures)}, indent=2, default=str))
    return 1 if failures else 0
