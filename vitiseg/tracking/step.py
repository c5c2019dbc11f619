"""The tracking step of ``vitiseg run``, after the per-photo work: every follow-up photo aligned to the same patient's
baseline photo of that region and view, its change map, and the baseline's patches followed.

Inputs are what the run folder already holds for each photo: its working-size mask (``masks/``), the facial area
of a baseline face photo (``face_area/``); the photos are re-read at the working size and, for faces, FaceMesh
landmarks recomputed. Outputs:

* ``changes/<follow-up path>.png``: the change map in the baseline frame (codes of :mod:`.changes`; faces: within the
  baseline's facial area, what F-VASI counts), and ``changes/<follow-up path>.jpg``: the baseline photo with the
  changes painted and a legend.
* ``changes.csv``: one row per follow-up photo: ``status`` ``aligned`` / ``not_aligned`` (alignment below a quality
  threshold, with the ``reason``; never compared) / ``no_baseline`` (no usable baseline photo of that region and view)
  / ``error``; alignment method and quality; change areas (:data:`.changes.AREA_COLUMNS`).
* ``patches.csv``: one row per baseline patch and follow-up visit: patch id, baseline area, centroid and box, share
  repigmented and pattern (:mod:`.patches`).

Each pair has its own error boundary (a failed pair is a row, never a failed run; an ``error`` is retried by the
next run) and a resume record in ``OUT/.tracking/<follow-up path>.json``: a pair is redone only when one of its
inputs changed (the two photos' SHA-256, the bytes of their masks and of the baseline's facial area, the tracking
and reading settings) or an output is missing. With ``workers`` > 1 the baselines (each with its follow-ups) are
shared among spawned processes; the tables are the same as with one (exact distance transforms, a fixed OpenCV
random seed per pair).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..config import PALM, RunConfig
from ..io.files import atomic_write_text
from ..io.images import read_mask, write_jpeg, write_png
from ..io.layout import VisitsLayout, natural_key
from ..io.tables import write_csv
from ..pipeline.photo import output_stem, read_photo
from .changes import AREA_COLUMNS, change_areas, change_codes, change_overlay
from .patches import Patch, baseline_patches, patch_changes
from .register import Alignment, PhotoView, align, warp_to_baseline

log = logging.getLogger(__name__)

RECORD_VERSION = 1  # bump when a pair's results change for the same inputs and settings
REGION_ORDER = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
CHANGE_COLUMNS = ["patient_id", "visit_id", "visit_index", "baseline_visit_id", "region", "view", "path",
                  "baseline_path", "status", "reason", "method", "coverage", "skin_overlap", "correlation", "inliers",
                  "residual_px", *AREA_COLUMNS, "change_map", "change_overlay"]
# primary keys of the two tables in vitiseg.sqlite: one row per follow-up photo; per baseline patch and visit
TRACKING_KEYS = {"changes": ["path"], "patches": ["baseline_path", "patch_id", "visit_id"]}
PATCH_COLUMNS = ["patient_id", "region", "view", "baseline_path", "patch_id", "baseline_px", "baseline_pct_of_skin",
                 "centroid_x", "centroid_y", "bbox", "visit_id", "visit_index", "status", "visible_share",
                 "compared_px", "repigmented_px", "repigmented_share", "border_auc", "pattern"]


@dataclass
class Baseline:
    """A baseline photo loaded once for all its follow-ups."""

    row: dict[str, Any]
    view: PhotoView
    domain: np.ndarray
    labels: np.ndarray
    patches: list[Patch]


def _bytes_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""


def _landmarks(rgb: np.ndarray) -> np.ndarray | None:
    from ..face import detect_faces  # MediaPipe is loaded only when a face pair is aligned

    faces = detect_faces(rgb)
    return faces[0][:, :2].astype(np.float32) if faces else None


@dataclass
class PairResult:
    """One tracked pair: its changes.csv fields, one dict per baseline patch, the alignment and the change map
    (None unless aligned)."""

    row: dict[str, Any]
    patches: list[dict[str, Any]]
    alignment: Alignment
    codes: np.ndarray | None


def _working_mask(rgb: np.ndarray, masks_root: Path, rel: str) -> np.ndarray:
    cls = read_mask(masks_root / rel)
    if cls.shape != rgb.shape[:2]:
        raise ValueError(f"mask {rel} is {cls.shape}, the photo {rgb.shape[:2]} at the working size")
    return cls


def load_baseline(row: dict[str, Any], path: Path, masks_root: Path, cfg: RunConfig) -> Baseline:
    """Read a baseline photo at the working size, its mask (``masks_root / row["mask"]``), its facial area (faces
    with ``row["face_area"]``) and landmarks; find its patches."""
    rgb = read_photo(path, cfg)
    cls = _working_mask(rgb, masks_root, row["mask"])
    area = row.get("face_area")
    domain = read_mask(masks_root / area) > 0 if area else np.ones(cls.shape, bool)
    lm = _landmarks(rgb) if row["region"] == "face" else None
    labels, patches = baseline_patches(cls, domain, cfg.tracking)
    return Baseline(row, PhotoView(rgb, cls, lm), domain, labels, patches)


def _record_key(base: dict[str, Any], fu: dict[str, Any], out: Path, cfg: RunConfig) -> str:
    blob = {"version": RECORD_VERSION, "tracking": cfg.tracking.model_dump(), "io": cfg.io.model_dump(),
            "photos": [base["sha256"], fu["sha256"]],
            "files": [_bytes_hash(out / base["mask"]), _bytes_hash(out / fu["mask"]),
                      _bytes_hash(out / base["face_area"]) if base.get("face_area") else ""]}
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _load_record(out: Path, rel: str, key: str) -> dict[str, Any] | None:
    p = out / ".tracking" / f"{rel}.json"
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if rec.get("key") != key:
        return None
    for col in ("change_map", "change_overlay"):
        if rec["change"].get(col) and not (out / rec["change"][col]).is_file():
            return None
    return rec


def _patch_base(b: Baseline, p: Patch) -> dict[str, Any]:
    r = b.row
    return {"patient_id": r["patient_id"], "region": r["region"], "view": r["view"], "baseline_path": r["path"],
            "patch_id": p.patch_id, "baseline_px": p.area_px, "baseline_pct_of_skin": p.pct_of_skin,
            "centroid_x": round(p.centroid[0], 1), "centroid_y": round(p.centroid[1], 1),
            "bbox": " ".join(str(v) for v in p.bbox)}


def track_pair(b: Baseline, fu: dict[str, Any], fu_path: Path, masks_root: Path, out: Path, cfg: RunConfig,
               given: Callable[[PhotoView], Alignment] | None = None) -> PairResult:
    """Align one follow-up (mask ``masks_root / fu["mask"]``) to its baseline, write its change map and overlay
    under ``out / "changes"`` and measure the changes and patches. ``given``: an alignment to use instead of
    :func:`.register.align`, made from the follow-up's view (a known transform, when measuring accuracy)."""
    tc = cfg.tracking
    rgb = read_photo(fu_path, cfg)
    cls = _working_mask(rgb, masks_root, fu["mask"])
    if given is not None:
        al = given(PhotoView(rgb, cls))
    else:
        lm = _landmarks(rgb) if b.view.landmarks is not None else None
        al = align(b.view, PhotoView(rgb, cls, lm), tc)
    row: dict[str, Any] = {"status": al.status, "reason": al.reason, "method": al.method, **al.quality}
    if al.status != "aligned":
        return PairResult(row, [{"status": al.status} for _ in b.patches], al, None)
    fu_w, valid = warp_to_baseline(cls, al.grid)
    codes = change_codes(b.view.classes, fu_w, valid & b.domain)
    stem = output_stem(fu["path"])
    write_png(out / "changes" / f"{stem}.png", codes)
    write_jpeg(out / "changes" / f"{stem}.jpg", change_overlay(b.view.rgb, codes, tc.overlay_long_side),
               cfg.outputs.jpeg_quality)
    row.update(change_areas(codes), change_map=f"changes/{stem}.png", change_overlay=f"changes/{stem}.jpg")
    patches = [{"status": "aligned", **r} for r in patch_changes(b.labels, b.patches, codes, tc)]
    return PairResult(row, patches, al, codes)


def follow_up_pairs(rows: list[dict[str, Any]], layout: VisitsLayout
                    ) -> list[tuple[dict[str, Any] | None, dict[str, Any], int]]:
    """``(baseline row or None, follow-up row, visit index)`` for every photo of a visit after the patient's first,
    matched by patient, region and view; ordered by patient, region, view and visit."""
    by_key: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        # a palm photo is the visit's hand-unit reference (vitiseg.calibration.hand_unit), not a region to follow
        if r.get("region") and r.get("region") != PALM and r.get("patient_id") in layout.visit_order:
            by_key.setdefault((r["patient_id"], r["region"], r["view"]), {})[r["visit_id"]] = r
    pairs = []
    order = sorted(by_key, key=lambda k: (natural_key(k[0]), REGION_ORDER.index(k[1]) if k[1] in REGION_ORDER
                                          else len(REGION_ORDER), k[1], k[2]))
    for key in order:
        visits = layout.visit_order[key[0]]
        photos = by_key[key]
        for i, vid in enumerate(visits[1:], start=1):
            if vid in photos:
                pairs.append((photos.get(visits[0]), photos[vid], i))
    return pairs


def track_baseline(task: tuple[dict[str, Any], list[dict[str, Any]], dict[str, str], str, str]
                   ) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Track every follow-up of one baseline photo; each pair in its own error boundary. ``task``: (baseline row,
    follow-up rows, input path of each row's ``path``, run folder, run config as JSON) -- picklable, so a worker
    process can run it. Returns one ``(changes fields, patch rows)`` per follow-up, in order."""
    base, fus, paths, out_s, cfg_json = task
    out, cfg = Path(out_s), RunConfig.model_validate_json(cfg_json)
    try:
        b: Baseline | str = load_baseline(base, Path(paths[base["path"]]), out, cfg)
    except Exception as exc:  # noqa: BLE001 - reported on each of its pairs
        log.exception("tracking: baseline %s unusable", base["path"])
        b = f"baseline unusable: {type(exc).__name__}: {exc}"
    results = []
    for fu in fus:
        try:
            if isinstance(b, str):
                raise RuntimeError(b)
            res = track_pair(b, fu, Path(paths[fu["path"]]), out, out, cfg)
            results.append((res.row, [{**_patch_base(b, p), **r} for p, r in zip(b.patches, res.patches)]))
        except Exception as exc:  # noqa: BLE001 - one failed pair must not stop the run
            log.exception("tracking: %s failed", fu["path"])
            results.append(({"status": "error", "reason": f"{type(exc).__name__}: {exc}"}, []))
    return results


def _run_tasks(tasks: list[tuple], workers: int, progress: bool) -> Iterator[list[tuple]]:
    """Results of :func:`track_baseline` per task, in task order; ``workers`` > 1: in spawned processes."""
    bar = tqdm(total=sum(len(t[1]) for t in tasks), desc="tracking", unit="pair", disable=not progress or not tasks)
    if workers > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            for t, res in zip(tasks, pool.map(track_baseline, tasks)):
                bar.update(len(t[1]))
                yield res
    else:
        for t in tasks:
            res = track_baseline(t)
            bar.update(len(t[1]))
            yield res
    bar.close()


def track_run(out: Path, layout: VisitsLayout, rows: list[dict[str, Any]], cfg: RunConfig, progress: bool = True,
              workers: int = 1) -> dict[str, Any]:
    """Run the tracking step over a run's photo rows (``workers`` processes; baselines are the unit of work);
    writes ``changes/``, ``changes.csv`` and ``patches.csv`` and returns ``{"tables": {"changes": df, "patches":
    df}, "counts": {...}}``."""
    paths = {p.rel_path: str(p.path) for p in layout.photos}
    pairs = follow_up_pairs(rows, layout)
    done: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    todo: dict[str, list[dict[str, Any]]] = {}
    keys: dict[str, str] = {}
    bases: dict[str, dict[str, Any]] = {}
    reused = 0
    for base, fu, _ in pairs:
        if base is None or base["status"] != "ok":
            why = "no baseline photo of this region and view" if base is None else \
                f"the baseline photo failed: {base['error']}"
            done[fu["path"]] = ({"status": "no_baseline", "reason": why}, [])
        elif fu["status"] != "ok":
            done[fu["path"]] = ({"status": "error", "reason": f"the follow-up photo failed: {fu['error']}"}, [])
        else:
            keys[fu["path"]] = _record_key(base, fu, out, cfg)
            rec = _load_record(out, fu["path"], keys[fu["path"]])
            if rec is not None:
                reused += 1
                done[fu["path"]] = (rec["change"], rec["patches"])
            else:
                todo.setdefault(base["path"], []).append(fu)
                bases[base["path"]] = base
    tasks = [(bases[bp], fus, paths, str(out), cfg.model_dump_json()) for bp, fus in todo.items()]
    for task, results in zip(tasks, _run_tasks(tasks, workers, progress)):
        for fu, (row, prows) in zip(task[1], results):
            done[fu["path"]] = (row, prows)
            if row["status"] == "not_aligned":
                log.warning("tracking: %s not aligned to %s: %s", fu["path"], task[0]["path"], row["reason"])
            if row["status"] != "error":  # errors are retried by the next run
                atomic_write_text(out / ".tracking" / f"{fu['path']}.json",
                                  json.dumps({"key": keys[fu["path"]], "change": row, "patches": prows},
                                             default=float))
    change_rows: list[dict[str, Any]] = []
    patch_rows: list[dict[str, Any]] = []
    for base, fu, vi in pairs:
        row, prows = done[fu["path"]]
        change_rows.append({"patient_id": fu["patient_id"], "visit_id": fu["visit_id"], "visit_index": vi,
                            "baseline_visit_id": layout.visit_order[fu["patient_id"]][0], "region": fu["region"],
                            "view": fu["view"], "path": fu["path"], "baseline_path": base["path"] if base else "",
                            **row})
        patch_rows += [{**r, "visit_id": fu["visit_id"], "visit_index": vi} for r in prows]
    changes = pd.DataFrame(change_rows, columns=CHANGE_COLUMNS)
    patches = pd.DataFrame(patch_rows, columns=PATCH_COLUMNS)
    write_csv(changes, out / "changes.csv")
    write_csv(patches, out / "patches.csv")
    counts = {s: int((changes["status"] == s).sum()) for s in ("aligned", "not_aligned", "no_baseline", "error")}
    counts.update(pairs=len(changes), patches=int(patches[["baseline_path", "patch_id"]].drop_duplicates().shape[0]),
                  reused=reused)
    log.info("tracking: %d follow-up photos: %d aligned, %d not aligned, %d without baseline, %d errors "
             "(%d reused)", counts["pairs"], counts["aligned"], counts["not_aligned"], counts["no_baseline"],
             counts["error"], reused)
    return {"tables": {"changes": changes, "patches": patches}, "counts": counts}
