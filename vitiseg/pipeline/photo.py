"""One photo end to end: read, segment, facial area, pixel counts, mask and overlay written; its photos.csv row back.

Each photo runs inside its own error boundary: a bad photo becomes a row with ``status=error`` and a message, never an
exception, so the batch goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..io.images import ImageReadError, read_rgb, resize_long_side, write_jpeg, write_png
from ..io.layout import PhotoItem
from ..io.files import sha256_file
from ..scoring import vasi
from ..segmentation.base import Segmenter, segment_photo
from .overlay import make_overlay
from .tables import PHOTO_COLUMNS

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    """What every photo's processing needs: configuration, segmenter, where to write, and the resume keys."""

    cfg: RunConfig
    segmenter: Segmenter
    out_dir: Path
    fingerprint: str
    model_sha256: str


def output_stem(rel_path: str) -> str:
    """Relative output path (POSIX, no suffix) mirroring the input tree: ``P01/V1/face_front.jpg`` -> ``P01/V1/face_front``."""
    p = Path(rel_path)
    return (p.parent / p.stem).as_posix()


def process_photo(item: PhotoItem, ctx: RunContext, face_views: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Process one photo end to end and write its mask/overlay; returns its photos.csv row (never raises for bad input).

    ``face_views``: the view tokens of all face photos of the same visit (the facial-area partition depends on them).
    The row also carries ``_timings`` (wall seconds per stage: hash, decode, normalise, segment, face, score, write)
    and ``_cpu`` (the same stages' CPU seconds in the thread that ran them), which are not written to the tables.
    """
    row: dict[str, Any] = {c: "" for c in PHOTO_COLUMNS}
    row.update(patient_id=item.patient_id, visit_id=item.visit_id, region=item.region, view=item.view,
               path=item.rel_path, status="error")
    timings: dict[str, float] = {}
    cpu: dict[str, float] = {}
    row["_timings"], row["_cpu"] = timings, cpu

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def lap(stage: str, since: tuple[float, float]) -> None:
        timings[stage], cpu[stage] = time.perf_counter() - since[0], time.thread_time() - since[1]

    if item.error:
        row["error"] = item.error
        return row
    try:
        t = clock()
        row["sha256"] = sha256_file(item.path)
        lap("hash", t)
        cfg = ctx.cfg
        t = clock()
        rgb = read_rgb(item.path, cfg.io.max_pixels, reduce_to_long_side=cfg.io.work_long_side)
        rgb = resize_long_side(rgb, cfg.io.work_long_side)
        lap("decode", t)
        if min(rgb.shape[:2]) < 16:
            raise ImageReadError(f"image too small to analyse ({rgb.shape[1]}x{rgb.shape[0]} px)")
        row["height"], row["width"] = rgb.shape[:2]
        seg = segment_photo(rgb, ctx.segmenter, cfg.io.work_long_side)
        timings.update(seg.seconds)
        cpu.update(seg.cpu_seconds)
        classes = seg.classes
        area = None
        t = clock()
        if item.region == "face" and cfg.face.area == "truev":
            from .. import face as face_mod  # MediaPipe is loaded only when a face is measured

            fa = face_mod.facial_area(rgb, item.view, views_present=face_views)
            row["face_area_status"] = fa.status
            if fa.status != "ok":
                hint = "" if "--face-area skin" in fa.message else " (--face-area skin for close-ups of one sub-area)"
                raise ValueError(f"facial area: {fa.status}: {fa.message}{hint}")
            area = fa.mask
        elif item.region == "face":
            row["face_area_status"] = "skin (all skin counted: --face-area skin)"
        lap("face", t)
        t = clock()
        skin_px, depig_px = vasi.mask_counts(classes, area)
        frac = vasi.fraction(skin_px, depig_px)
        lap("score", t)
        if skin_px == 0:
            raise ValueError("no skin found in the photo (nothing to measure)")
        t = clock()
        stem = output_stem(item.rel_path)
        mask_rel = f"masks/{stem}.png"
        write_png(ctx.out_dir / mask_rel, classes)
        if area is not None:
            face_rel = f"face_area/{stem}.png"
            write_png(ctx.out_dir / face_rel, area.astype(np.uint8) * 255)
            row["face_area"] = face_rel
        if cfg.outputs.overlays:
            ov_rel = f"overlays/{stem}.jpg"
            write_jpeg(ctx.out_dir / ov_rel, make_overlay(rgb, classes, area, cfg.outputs.overlay_long_side),
                       cfg.outputs.jpeg_quality)
            row["overlay"] = ov_rel
        lap("write", t)
        if seg.ambiguous is not None:  # share of the measured skin (facial area for the face) near the threshold
            measured = seg.ambiguous if area is None else seg.ambiguous & area
            row["uncertain_share"] = round(float(measured.sum()) / skin_px, 6)
        row.update(mask=mask_rel, skin_px=skin_px, depigmented_px=depig_px, fraction=frac,
                   vasi_level=vasi.vasi_level(frac), status="ok", error="")
    except (ImageReadError, ValueError, OSError) as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the batch
        log.exception("unexpected error on %s", item.rel_path)
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row
