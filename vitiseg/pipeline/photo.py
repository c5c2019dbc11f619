"""One photo end to end: read, segment, facial area, pixel counts, mask and overlay written; its photos.csv row back.

The steps are :func:`read_photo` (decode at the working size) and :func:`measure_photo` (colour chart and scale
markers by :func:`vitiseg.calibration.photo.calibrate_photo`, the colour-referenced photo segmented through
:func:`vitiseg.segmentation.base.segment_photo`, facial area, counts, calibration columns): the Python API
(:mod:`vitiseg.api`) measures a photo with exactly these two. :func:`process_photo` adds the files and the table row,
inside the photo's own error boundary: a bad photo becomes a row with ``status=error`` and a message, never an
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

from ..calibration.hand_unit import measure_hand_unit
from ..calibration.photo import calibrate_photo
from ..config import PALM, RunConfig
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


@dataclass
class PhotoMeasurement:
    """One photo measured (:func:`measure_photo`).

    ``rgb``: ``(h, w, 3) uint8`` sRGB at the working size, as taken. ``classes``: ``(h, w) uint8`` 0 background,
    1 healthy skin, 2 depigmented skin. ``facial_area``: ``(h, w) bool`` counted facial area (face photos with
    ``face.area: truev``), else None. ``skin_px`` / ``depigmented_px``: counts within the facial area for a face,
    within the whole photo otherwise; ``fraction`` = depigmented / skin in [0, 1]; ``vasi_level`` in percent.
    ``uncertain_share``: share of the measured skin near the U-Net's threshold (None for segmenters without it).
    ``face_area_status``: ``ok``, the all-skin note, or "" for other regions. ``seconds``: wall seconds per stage;
    ``cpu_seconds``: the same stages' CPU seconds in the calling thread. ``calibration``: the photos.csv columns of
    :data:`vitiseg.calibration.photo.CALIBRATION_COLUMNS` that were measured (chart, scale, cm2, skin colour, and
    ``hand_unit_cm2`` for a palm photo).
    """

    rgb: np.ndarray
    classes: np.ndarray
    facial_area: np.ndarray | None
    face_area_status: str
    skin_px: int
    depigmented_px: int
    fraction: float
    vasi_level: int | None
    uncertain_share: float | None
    seconds: dict[str, float]
    cpu_seconds: dict[str, float]
    calibration: dict[str, Any]


def read_photo(path: Path, cfg: RunConfig, notes: list[str] | None = None) -> np.ndarray:
    """A photo as ``vitiseg run`` analyses it: ``(h, w, 3) uint8`` sRGB, long side at most ``io.work_long_side``.

    ``notes`` collects what the reader says about the file (e.g. only the first page of a multi-page TIFF is read).
    Raises :class:`ImageReadError` for unreadable, oversized or too small photos."""
    rgb = read_rgb(path, cfg.io.max_pixels, reduce_to_long_side=cfg.io.work_long_side, notes=notes)
    read_hw = rgb.shape[:2]
    rgb = resize_long_side(rgb, cfg.io.work_long_side)
    if min(rgb.shape[:2]) < 16:
        raise ImageReadError(f"image too small to analyse: {read_hw[1]}x{read_hw[0]} px read, "
                             f"{rgb.shape[1]}x{rgb.shape[0]} at the working size (16 px at least on each side)")
    return rgb


def measure_photo(rgb: np.ndarray, region: str, view: str, cfg: RunConfig, segmenter: Segmenter,
                  face_views: frozenset[str] = frozenset()) -> PhotoMeasurement:
    """Segment one decoded photo (:func:`read_photo`) and count its pixels; for a face, within the facial area.

    ``face_views``: view tokens of every face photo of the visit (the facial-area partition depends on them);
    ``region`` :data:`~vitiseg.config.PALM` is a palm photo, measured for the hand unit.
    Raises ValueError when the facial area is not found (its status in the message), no skin is found, or a palm
    photo has no hand or no scale.
    """
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.thread_time()

    def lap(stage: str, since: tuple[float, float]) -> None:
        seconds[stage], cpu[stage] = time.perf_counter() - since[0], time.thread_time() - since[1]

    work = resize_long_side(rgb, cfg.io.work_long_side)  # references measured on the classes' own pixel grid
    t = clock()
    cal = calibrate_photo(work, cfg.calibration)  # colour chart -> corrected colours; markers -> px per cm
    lap("calibrate", t)
    seg = segment_photo(cal.rgb, segmenter, cfg.io.work_long_side, cal.exclude)
    seconds.update(seg.seconds)
    cpu.update(seg.cpu_seconds)
    area, status = None, ""
    t = clock()
    if region == "face" and cfg.face.area == "truev":
        from .. import face as face_mod  # MediaPipe is loaded only when a face is measured

        fa = face_mod.facial_area(work, view, views_present=face_views)
        status = fa.status
        if fa.status != "ok":
            hint = "" if "--face-area skin" in fa.message else " (--face-area skin for close-ups of one sub-area)"
            raise FaceAreaError(status, f"facial area: {fa.status}: {fa.message}{hint}")
        area = fa.mask
    elif region == "face":
        status = "skin (all skin counted: --face-area skin)"
    lap("face", t)
    t = clock()
    skin_px, depig_px = vasi.mask_counts(seg.classes, area)
    frac = vasi.fraction(skin_px, depig_px)
    lap("score", t)
    if skin_px == 0:
        raise ValueError("no skin found in the photo (nothing to measure)")
    unc = None
    if seg.ambiguous is not None:  # share of the measured skin (facial area for the face) near the threshold
        measured = seg.ambiguous if area is None else seg.ambiguous & area
        unc = round(float(measured.sum()) / skin_px, 6)
    calibration = cal.columns(seg.classes, area, segmenter.colour_normalisation)
    if region == PALM:
        t = clock()
        calibration["hand_unit_cm2"] = round(measure_hand_unit(work, seg.classes, cal.scale), 3)
        lap("hand_unit", t)
    return PhotoMeasurement(work, seg.classes, area, status, skin_px, depig_px, frac, vasi.vasi_level(frac), unc,
                            seconds, cpu, calibration)


class FaceAreaError(ValueError):
    """The facial area of a face photo was not found; ``status`` is its :data:`vitiseg.face.STATUSES` value."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status


def output_stem(rel_path: str) -> str:
    """Relative output path (POSIX, no suffix) mirroring the input tree: ``P01/V1/face_front.jpg`` -> ``P01/V1/face_front``."""
    p = Path(rel_path)
    return (p.parent / p.stem).as_posix()


def process_photo(item: PhotoItem, ctx: RunContext, face_views: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Process one photo end to end and write its mask/overlay; returns its photos.csv row (never raises for bad input).

    ``face_views``: the view tokens of all face photos of the same visit (the facial-area partition depends on them).
    The row also carries ``_timings`` (wall seconds per stage: hash, decode, calibrate, normalise, segment, face,
    score, hand_unit for a palm photo, write)
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
        fault_point("decode", item.rel_path)
        notes: list[str] = []
        rgb = read_photo(item.path, cfg, notes)
        for note in notes:
            log.warning("%s: %s", item.rel_path, note)
        lap("decode", t)
        row["height"], row["width"] = rgb.shape[:2]
        fault_point("inference", item.rel_path)
        try:
            m = measure_photo(rgb, item.region, item.view, cfg, ctx.segmenter, face_views)
        except FaceAreaError as exc:
            row["face_area_status"] = exc.status
            raise
        timings.update(m.seconds)
        cpu.update(m.cpu_seconds)
        row["face_area_status"] = m.face_area_status
        row.update(m.calibration)
        t = clock()
        stem = output_stem(item.rel_path)
        mask_rel = f"masks/{stem}.png"
        fault_point("write", item.rel_path)
        write_png(ctx.out_dir / mask_rel, m.classes)
        if m.facial_area is not None:
            face_rel = f"face_area/{stem}.png"
            fault_point("write", item.rel_path)
            write_png(ctx.out_dir / face_rel, m.facial_area.astype(np.uint8) * 255)
            row["face_area"] = face_rel
        if cfg.outputs.overlays:
            ov_rel = f"overlays/{stem}.jpg"
            fault_point("write", item.rel_path)
            write_jpeg(ctx.out_dir / ov_rel, make_overlay(m.rgb, m.classes, m.facial_area, cfg.outputs.overlay_long_side),
                       cfg.outputs.jpeg_quality)
            row["overlay"] = ov_rel
        lap("write", t)
        if m.uncertain_share is not None:
            row["uncertain_share"] = m.uncertain_share
        row.update(mask=mask_rel, skin_px=m.skin_px, depigmented_px=m.depigmented_px, fraction=m.fraction,
                   vasi_level=m.vasi_level, status="ok", error="")
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
