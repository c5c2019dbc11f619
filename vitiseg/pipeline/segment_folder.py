"""``vitiseg segment``: class masks for a flat folder of images (for evaluating segmentation on any image set).

Each ``IMAGES_DIR/<stem>.<ext>`` gives ``OUT/<stem>.png``: ``(H, W) uint8`` classes 0 background, 1 healthy skin,
2 depigmented skin, at the image's own resolution (the photo goes through
:func:`vitiseg.segmentation.base.segment_photo` at the configured working size, as in ``vitiseg run``, and its labels
are resized back with nearest-neighbour). Images already done are skipped on a re-run; failures are listed in
``OUT/failures.csv`` and make the exit code 1. Files that are not images and sub-folders are skipped and named in the
log and in ``OUT/segment.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cv2
import pandas as pd
from tqdm import tqdm

from ..config import load_config
from ..io.files import atomic_write_text
from ..io.tables import write_csv
from ..io.images import IMAGE_SUFFIXES, ImageReadError, image_size, read_rgb, write_png
from ..segmentation.base import segment_photo
from ..segmentation.load import load_segmenter_checked
from ..usage import UsageError, require_device, require_input_dir, require_output_dir
from .provenance import describe_model, versions

log = logging.getLogger(__name__)


def segment_folder(images: Path, out: Path, config: Path | None = None, overrides: dict[str, Any] | None = None,
                   overwrite: bool = False, progress: bool = True) -> int:
    """Write ``OUT/<stem>.png`` for every image of ``images``; the exit code (0 ok, 1 some failed).

    A user's mistake (bad config, missing input folder, no image in it, ``out`` a file, missing model folder,
    unavailable device) raises :class:`vitiseg.config.ConfigError` / :class:`vitiseg.usage.UsageError` (exit code 2
    on the command line)."""
    cfg = load_config(config, overrides)
    require_input_dir(images, "image folder")
    require_device(cfg.segmentation.device)
    entries = sorted(images.iterdir())
    files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    skipped = [p.name + ("/" if p.is_dir() else "") for p in entries if p not in files and p.resolve() != out.resolve()]
    if not files:
        raise UsageError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {images}"
                         + (f"; it holds {len(skipped)} other entries, e.g. {', '.join(skipped[:3])}" if skipped else ""))
    if skipped:
        log.warning("skipped %d of %d entries of %s, not image files (%s): %s%s", len(skipped), len(entries), images,
                    ", ".join(IMAGE_SUFFIXES), ", ".join(skipped[:10]), " ..." if len(skipped) > 10 else "")
    if out.resolve() == images.resolve():  # a sub-folder is fine: it is skipped like any other
        raise UsageError(f"--out {out} is the image folder itself: a second run would read the masks as images; "
                         "choose another folder")
    seg = load_segmenter_checked(cfg.segmentation, cfg.normalise)  # before OUT is made: a missing model leaves none
    out = require_output_dir(out)
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
    write_csv(pd.DataFrame(failures, columns=["path", "error"]), out / "failures.csv")
    atomic_write_text(out / "segment.json", json.dumps(
        {"model": seg.identity, "config": cfg.model_dump(), "versions": versions(), "images": len(files),
         "failed": len(failures), "skipped": skipped}, indent=2, default=str))
    log.info("%d masks in %s (%d failed, %d entries skipped)", len(files) - len(failures), out, len(failures),
             len(skipped))
    return 1 if failures else 0
