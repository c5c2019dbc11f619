"""One photo end to end: read, segment, facial area, pixel counts, mask and overlay written; its photos.csv row back.

Each photo runs inside its own error boundary: a bad photo becomes a row with ``status=error`` and a message, never an
exception, so the batch goes on. The one exception that passes is :class:`~vitiseg.io.files.OutputWriteError` (disk
full, unwritable run folder): every later photo would fail the same way, so the run stops and can be resumed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import RunConfig
from ..faults import fault_point
from ..io.images import ImageReadError, read_rgb, resize_long_side, write_jpeg, write_png
from ..io.layout import PhotoItem
from ..io.files import OutputWriteError, sha256_file
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
    The row also carries ``_timings`` (seconds per stage: hash, decode, normalise, segment, face, score, write), which
    is not written to the tables.
    """
    row: dict[str, Any] = {c: "" for c in PHOTO_COLUMNS}
    row.update(patient_id=item.patient_id, visit_id=item.visit_id, region=item.region, view=item.view,
               path=item.rel_path, status="error")
    timings: dict[str, float] = {}
    row["_timings"] = timings
    if item.error:
        row["error"] = item.error
        return row
    clock = time.perf_counter
    try:
        t = clock()
        row["sha256"] = sha256_file(item.path)
        timings["hash"] = clock() - t
        cfg = ctx.cfg
        t = clock()
        fault_point("decode", item.rel_path)
        notes: list[str] = []
        rgb = read_rgb(item.path, cfg.io.max_pixels, reduce_to_long_side=cfg.io.work_long_side, notes=notes)
        for note in notes:
            log.warning("%s: %s", item.rel_path, note)
        read_hw = rgb.shape[:2]
        rgb = resize_long_side(rgb, cfg.io.work_long_side)
        timings["decode"] = clock() - t
        if min(rgb.shape[:2]) < 16:
            raise ImageReadError(f"image too small to analyse: {read_hw[1]}x{read_hw[0]} px read, "
                                 f"{rgb.shape[1]}x{rgb.shape[0]} at the working size (16 px at least on each side)")
        row["height"], row["width"] = rgb.shape[:2]
        fault_point("inference", item.rel_path)
        seg = segment_photo(rgb, ctx.segmenter, cfg.io.work_long_side)
        timings.update(seg.seconds)
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
        timings["face"] = clock() - t
        t = clock()
        skin_px, depig_px = vasi.mask_counts(classes, area)
        frac = vasi.fraction(skin_px, depig_px)
        timings["score"] = clock() - t
        if skin_px == 0:
            raise ValueError("no skin found in the photo (nothing to measure)")
        t = clock()
        stem = output_stem(item.rel_path)
        mask_rel = f"masks/{stem}.png"
        fault_point("write", item.rel_path)
        write_png(ctx.out_dir / mask_rel, classes)
        if area is not None:
            face_rel = f"face_area/{stem}.png"
            fault_point("write", item.rel_path)
            write_png(ctx.out_dir / face_rel, area.astype(np.uint8) * 255)
            row["face_area"] = face_rel
        if cfg.outputs.overlays:
            ov_rel = f"overlays/{stem}.jpg"
            fault_point("write", item.rel_path)
            write_jpeg(ctx.out_dir / ov_rel, make_overlay(rgb, classes, area, cfg.outputs.overlay_long_side),
                       cfg.outputs.jpeg_quality)
            row["overlay"] = ov_rel
        timings["write"] = clock() - t
        if seg.ambiguous is not None:  # share of the measured skin (facial area for the face) near the threshold
            measured = seg.ambiguous if area is None else seg.ambiguous & area
            row["uncertain_share"] = round(float(measured.sum()) / skin_px, 6)
        row.update(mask=mask_rel, skin_px=skin_px, depigmented_px=depig_px, fraction=frac,
                   vasi_level=vasi.vasi_level(frac), status="ok", error="")
    except OutputWriteError:
        raise  # the run folder cannot be written: a problem of the run, not of this photo
    except (ImageReadError, ValueError, OSError) as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the batch
        log.exception("unexpected error on %s", item.rel_path)
        row["error"] = f"{type(exc).__name__}: {exc}"
    # the input's location on this machine never goes into the tables (and not its real name in a pseudonymised run)
    row["error"] = row["error"].replace(str(item.path), item.rel_path)
    return row
