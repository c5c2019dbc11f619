"""``vitiseg run``: a visits folder in, masks, overlays, F-VASI / T-VASI per visit and change from baseline out.

Data flow per photo: read (:mod:`vitiseg.images`) -> resize to the working size -> colour normalisation
(:mod:`vitiseg.normalise`) -> segmentation (:mod:`vitiseg.segment`) -> facial area for face photos
(:mod:`vitiseg.face`) -> pixel counts (:mod:`vitiseg.score`). Then per visit: region fractions, F-VASI, T-VASI
(:mod:`vitiseg.score`); per patient: change from baseline and responder flags (:mod:`vitiseg.visits`).

Robustness: every photo is processed inside its own error boundary; a bad photo becomes a row with
``status=error`` and a message, the batch goes on, and the exit code is 1 if anything failed. Each finished photo
leaves a small JSON record (written atomically after its mask and overlay) under ``OUT/.records``; a re-run reuses
the records whose input SHA-256, configuration fingerprint and model hash all match, so an interrupted run resumes
without redoing or losing work. Tables are rebuilt from the records at the end of every run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import platform
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from . import score as score_mod
from .config import ConfigError, RegionsConfig, RunConfig, load_config, load_regions
from .images import (ImageReadError, atomic_write_text, read_rgb, resize_long_side, sha256_file, write_jpeg,
                     write_png)
from .layout import PhotoItem, VisitsLayout, discover
from .normalise import normalise
from .segment import Segmenter, load_segmenter
from .executors import WorkerSpec, run_local, run_ray
from .visits import longitudinal

log = logging.getLogger(__name__)

RECORD_VERSION = 3  # 2: ICC profiles converted to sRGB on reading; 3: uncertain_share column
PHOTO_COLUMNS = [
    "patient_id", "visit_id", "region", "view", "path", "sha256", "width", "height", "skin_px", "depigmented_px",
    "fraction", "vasi_level", "uncertain_share", "face_area_status", "status", "error", "mask", "overlay",
    "face_area",
]
REGION_COLUMNS = [
    "patient_id", "visit_id", "region", "tvasi_region", "hand_units", "n_photos", "skin_px", "depigmented_px",
    "fraction", "vasi_level", "contribution", "assessed",
]
VISIT_COLUMNS = [
    "patient_id", "visit_id", "visit_index", "date", "f_vasi", "t_vasi", "t_vasi_partial", "missing_regions",
    "n_photos", "n_failed",
]
TRACKED_PACKAGES = ["vitiseg", "numpy", "scipy", "opencv-contrib-python", "pillow", "scikit-image", "colour-science",
                    "torch", "segmentation-models-pytorch", "timm", "mediapipe", "pandas", "pydantic"]

# overlay colours (RGB)
DEPIG_RGB = np.array([255, 0, 255], dtype=np.float32)
FACE_RGB = (0, 255, 255)


@dataclass
class RunContext:
    """What every photo's processing needs: configuration, segmenter, and where to write."""

    cfg: RunConfig
    segmenter: Segmenter
    out_dir: Path
    fingerprint: str
    model_sha256: str


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of the largest finished child (local workers)."""
    import resource

    return {"main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def output_stem(rel_path: str) -> str:
    """Relative output path (POSIX, no suffix) mirroring the input tree: ``P01/V1/face_front.jpg`` -> ``P01/V1/face_front``."""
    p = Path(rel_path)
    return (p.parent / p.stem).as_posix()


def _record_path(out_dir: Path, rel_path: str) -> Path:
    return out_dir / ".records" / (rel_path + ".json")


def make_overlay(rgb: np.ndarray, classes: np.ndarray, face_mask: np.ndarray | None, long_side: int) -> np.ndarray:
    """Overlay for a person: depigmented skin tinted magenta with its outline, non-skin dimmed, facial area in cyan.

    ``rgb`` ``(H, W, 3) uint8`` (the photo as taken, not normalised), ``classes`` ``(H, W) uint8``; output is
    ``(h, w, 3) uint8`` RGB with long side <= ``long_side``.
    """
    img = resize_long_side(rgb, long_side)
    h, w = img.shape[:2]
    cls = cv2.resize(classes, (w, h), interpolation=cv2.INTER_NEAREST)
    out = img.astype(np.float32)
    out[cls == 0] *= 0.55
    dep = cls == 2
    out[dep] = 0.55 * out[dep] + 0.45 * DEPIG_RGB
    out = np.clip(out, 0, 255).astype(np.uint8)
    thick = max(1, round(max(h, w) / 600))
    contours, _ = cv2.findContours(dep.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 0, 255), thick)
    if face_mask is not None:
        fm = cv2.resize(face_mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(fm, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)  # eye and lip holes too
        cv2.drawContours(out, contours, -1, FACE_RGB, thick + 1)
    return out


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
        rgb = read_rgb(item.path, cfg.io.max_pixels, reduce_to_long_side=cfg.io.work_long_side)
        rgb = resize_long_side(rgb, cfg.io.work_long_side)
        timings["decode"] = clock() - t
        if min(rgb.shape[:2]) < 16:
            raise ImageReadError(f"image too small to analyse ({rgb.shape[1]}x{rgb.shape[0]} px)")
        row["height"], row["width"] = rgb.shape[:2]
        t = clock()
        norm = normalise(rgb, cfg.normalise)
        timings["normalise"] = clock() - t
        t = clock()
        ambiguous = None
        if hasattr(ctx.segmenter, "predict_with_ambiguity"):  # U-Net: also the skin pixels near its threshold
            classes, ambiguous = ctx.segmenter.predict_with_ambiguity(norm)
        else:
            classes = ctx.segmenter.predict(norm)
        timings["segment"] = clock() - t
        area = None
        t = clock()
        if item.region == "face" and cfg.face.area == "truev":
            from . import face as face_mod

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
        skin_px, depig_px = score_mod.mask_counts(classes, area)
        frac = score_mod.fraction(skin_px, depig_px)
        timings["score"] = clock() - t
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
        timings["write"] = clock() - t
        if ambiguous is not None:  # share of the measured skin (facial area for the face) near the threshold
            measured = ambiguous if area is None else ambiguous & area
            row["uncertain_share"] = round(float(measured.sum()) / skin_px, 6)
        row.update(mask=mask_rel, skin_px=skin_px, depigmented_px=depig_px, fraction=frac,
                   vasi_level=score_mod.vasi_level(frac), status="ok", error="")
    except (ImageReadError, ValueError, OSError) as exc:
        row["error"] = str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad photo must not stop the batch
        log.exception("unexpected error on %s", item.rel_path)
        row["error"] = f"{type(exc).__name__}: {exc}"
    return row


def _load_record(ctx: RunContext, item: PhotoItem, face_views: frozenset[str]) -> dict[str, Any] | None:
    p = _record_path(ctx.out_dir, item.rel_path)
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if (rec.get("record_version") != RECORD_VERSION or rec.get("config") != ctx.fingerprint
            or rec.get("model") != ctx.model_sha256 or rec["row"].get("status") != "ok"
            or rec.get("face_views") != sorted(face_views)):
        return None
    if rec["row"].get("sha256") != sha256_file(item.path):
        return None
    for col in ("mask", "overlay", "face_area"):
        if rec["row"].get(col) and not (ctx.out_dir / rec["row"][col]).is_file():
            return None
    return rec["row"]


def _save_record(ctx: RunContext, item: PhotoItem, row: dict[str, Any], face_views: frozenset[str]) -> None:
    rec = {"record_version": RECORD_VERSION, "config": ctx.fingerprint, "model": ctx.model_sha256,
           "face_views": sorted(face_views), "row": row}
    atomic_write_text(_record_path(ctx.out_dir, item.rel_path), json.dumps(rec, sort_keys=True))


def _face_views(photos: list[PhotoItem]) -> dict[tuple[str, str], frozenset[str]]:
    views: dict[tuple[str, str], set[str]] = {}
    for p in photos:
        if p.region == "face" and not p.error:
            views.setdefault((p.patient_id, p.visit_id), set()).add(p.view)
    return {k: frozenset(v) for k, v in views.items()}


def _check_duplicates(photos: list[PhotoItem]) -> list[PhotoItem]:
    """Two inputs that would write the same output (same stem, different extension) are both errors."""
    stems: dict[str, int] = {}
    for p in photos:
        stems[output_stem(p.rel_path)] = stems.get(output_stem(p.rel_path), 0) + 1
    out = []
    for p in photos:
        if not p.error and stems[output_stem(p.rel_path)] > 1:
            p = PhotoItem(p.patient_id, p.visit_id, p.region, p.view, p.path, p.rel_path,
                          error="another photo has the same name with a different extension; rename one")
        out.append(p)
    return out


def _repartition_faces(rows: list[dict[str, Any]], photos: list[PhotoItem], ctx: RunContext,
                       face_views: dict[tuple[str, str], frozenset[str]]) -> list[dict[str, Any]]:
    """Second pass for visits where a face photo failed: the facial-area partition assumed that view would count its
    zone, so the surviving face photos of that visit are redone with the views that actually succeeded (otherwise the
    failed view's zone would be counted by nobody)."""
    failed: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        if r["region"] == "face" and r["status"] != "ok":
            failed.setdefault((r["patient_id"], r["visit_id"]), set()).add(r["view"])
    if not failed:
        return rows
    items = {p.rel_path: p for p in photos}
    out = []
    for r in rows:
        key = (r["patient_id"], r["visit_id"])
        if r["region"] == "face" and r["status"] == "ok" and key in failed:
            views = face_views.get(key, frozenset()) - failed[key]
            item = items[r["path"]]
            log.info("%s: redoing the facial area without the failed view(s) %s", item.rel_path, sorted(failed[key]))
            r = process_photo(item, ctx, views)
            if r["status"] == "ok":
                _save_record(ctx, item, r, views)
        out.append(r)
    return out


def build_tables(rows: list[dict[str, Any]], layout: VisitsLayout, regions: RegionsConfig
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """photos, regions, visits and longitudinal tables from photo rows (deterministic row order)."""
    photos = pd.DataFrame(rows, columns=PHOTO_COLUMNS).sort_values(["patient_id", "visit_id", "path"], kind="stable")
    photos = photos.reset_index(drop=True)
    ok = photos[photos["status"] == "ok"]
    region_rows, visit_rows = [], []
    for vm in layout.visit_meta.itertuples(index=False):
        pid, vid = vm.patient_id, vm.visit_id
        vis_photos = photos[(photos["patient_id"] == pid) & (photos["visit_id"] == vid)]
        vis_ok = ok[(ok["patient_id"] == pid) & (ok["visit_id"] == vid)]
        fractions: dict[str, float] = {}
        for name, spec in regions.regions.items():
            rp = vis_ok[vis_ok["region"] == name]
            n_all = int((vis_photos["region"] == name).sum())
            s, d = int(rp["skin_px"].astype(int).sum()), int(rp["depigmented_px"].astype(int).sum())
            assessed = len(rp) > 0 and s > 0
            f = score_mod.fraction(s, d) if assessed else float("nan")
            if assessed:
                fractions[name] = f
            region_rows.append({
                "patient_id": pid, "visit_id": vid, "region": name, "tvasi_region": spec.tvasi_region,
                "hand_units": spec.hand_units, "n_photos": n_all, "skin_px": s if assessed else "",
                "depigmented_px": d if assessed else "", "fraction": f,
                "vasi_level": score_mod.vasi_level(f) if assessed else "",
                "contribution": spec.hand_units * f if assessed else float("nan"), "assessed": assessed,
            })
        vs = score_mod.score_visit(fractions, regions)
        row = {"patient_id": pid, "visit_id": vid, "visit_index": int(vm.visit_index), "date": vm.date,
               "f_vasi": vs.f_vasi, "t_vasi": vs.t_vasi, "t_vasi_partial": vs.t_vasi_partial,
               "missing_regions": ";".join(vs.missing_regions), "n_photos": len(vis_photos),
               "n_failed": int((vis_photos["status"] != "ok").sum())}
        for c in layout.pro_columns:
            row[c] = getattr(vm, c) if c.isidentifier() else layout.visit_meta.loc[
                (layout.visit_meta.patient_id == pid) & (layout.visit_meta.visit_id == vid), c].iloc[0]
        visit_rows.append(row)
    regions_df = pd.DataFrame(region_rows, columns=REGION_COLUMNS)
    visits_df = pd.DataFrame(visit_rows, columns=VISIT_COLUMNS + layout.pro_columns)
    long_df = longitudinal(visits_df)
    return photos, regions_df, visits_df, long_df


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _write_sqlite(tables: dict[str, pd.DataFrame], path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vitiseg.", suffix=".sqlite.tmp")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            for name, df in tables.items():
                df.to_sql(name, con, index=False, if_exists="replace")
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(visits_dir: str | Path, out_dir: str | Path, cfg: RunConfig, regions: RegionsConfig | None = None,
        segmenter: Segmenter | None = None, progress: bool = True, workers: int = 1, executor: str = "local",
        ray_address: str | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns the run summary (also written to ``OUT/run.json``).

    ``workers`` > 1 or ``executor="ray"`` run the per-photo work in worker processes / Ray actors
    (see :mod:`vitiseg.executors`); results are identical to the in-process run.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    regions = regions or load_regions()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    layout = discover(visits_dir, regions)
    photos = _check_duplicates(layout.photos)
    segmenter = segmenter or load_segmenter(cfg.segmentation)
    ident = dict(segmenter.identity)
    # resume key of the model: its weights hash plus every setting in its identity (threshold, input size, ...)
    model_key = hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()
    ctx = RunContext(cfg, segmenter, out, cfg.fingerprint(), model_key)
    face_views = _face_views(photos)
    log.info("%d photos in %s; model %s (%s); output %s", len(photos), layout.root, ident.get("name"),
             ident.get("sha256", "")[:12], out)

    rows: list[dict[str, Any]] = []
    reused = 0
    tasks = []
    for item in photos:
        views = face_views.get((item.patient_id, item.visit_id), frozenset()) if item.region == "face" else frozenset()
        row = None if item.error else _load_record(ctx, item, views)
        if row is not None:
            reused += 1
            rows.append(row)
        elif item.error:
            rows.append(process_photo(item, ctx, views))
            log.error("%s: %s", item.rel_path, item.error)
        else:
            tasks.append((item, views))
    if reused:
        log.info("resuming: %d photo(s) already done with the same input, config and model", reused)
    n_cores = os.cpu_count() or 1
    spec = WorkerSpec(cfg.model_dump_json(), str(out), ctx.fingerprint, ctx.model_sha256,
                      max(1, n_cores // max(1, workers)))
    if executor == "ray":
        results = run_ray(tasks, workers, spec, ray_address)
    else:
        results = run_local(tasks, ctx, workers, spec if workers > 1 else None)
    by_path = {item.rel_path: (item, views) for item, views in tasks}
    stage_totals: dict[str, float] = {}
    for row in tqdm(results, total=len(tasks), desc="photos", unit="photo", disable=not progress):
        item, views = by_path[row["path"]]
        for k, v in row.pop("_timings", {}).items():
            stage_totals[k] = stage_totals.get(k, 0.0) + v
        if row["status"] == "ok":
            _save_record(ctx, item, row, views)
        else:
            log.error("%s: %s", item.rel_path, row["error"])
        rows.append(row)
    rows = _repartition_faces(rows, photos, ctx, face_views)
    for r in rows:
        r.pop("_timings", None)

    photos_df, regions_df, visits_df, long_df = build_tables(rows, layout, regions)
    failures = photos_df[photos_df["status"] != "ok"][["path", "error"]]
    _write_csv(photos_df, out / "photos.csv")
    _write_csv(regions_df, out / "regions.csv")
    _write_csv(visits_df, out / "visits.csv")
    _write_csv(long_df, out / "longitudinal.csv")
    _write_csv(failures, out / "failures.csv")
    _write_sqlite({"photos": photos_df, "regions": regions_df, "visits": visits_df, "longitudinal": long_df},
                  out / "vitiseg.sqlite")
    summary = {
        "command": "vitiseg run",
        "visits_dir": str(layout.root),
        "out_dir": str(out),
        "started": started,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 3),
        "config": cfg.model_dump(),
        "config_fingerprint": ctx.fingerprint,
        "regions": {k: v.model_dump() for k, v in regions.regions.items()},
        "model": ident,
        "versions": _versions(),
        "counts": {"photos": len(photos_df), "ok": int((photos_df["status"] == "ok").sum()),
                   "failed": len(failures), "reused": reused, "skipped_files": len(layout.skipped),
                   "patients": len(layout.visit_order), "visits": len(visits_df)},
        "skipped_files": layout.skipped,
        "pro_columns": layout.pro_columns,
        "executor": {"kind": executor, "workers": workers, "ray_address": ray_address},
        "peak_rss_mb": _peak_rss_mb(),
        "stage_seconds": {k: round(v, 3) for k, v in sorted(stage_totals.items())},
    }
    atomic_write_text(out / "run.json", json.dumps(summary, indent=2, sort_keys=True, default=str))
    if cfg.report:
        try:
            from .report import build_report

            summary["report"] = str(build_report(out))
        except Exception as exc:  # noqa: BLE001 - the tables are written; a report failure is reported, not fatal
            log.exception("report failed: %s", exc)
            summary["report_error"] = str(exc)
    log.info("done: %d ok, %d failed, %d reused from a previous run", summary["counts"]["ok"],
             summary["counts"]["failed"], reused)
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("visits", type=Path, help="visits folder: VISITS/<patient>/<visit>/<region>[_<view>].jpg")
    p.add_argument("--out", type=Path, required=True, help="output folder (re-using it resumes)")
    p.add_argument("--config", type=Path, help="YAML config (see configs/default.yaml); unknown keys are rejected")
    p.add_argument("--regions", type=Path, help="regions YAML (default: configs/regions.yaml)")
    p.add_argument("--model", help="'default' (shipped U-Net), 'classical', or a model folder")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--face-area", choices=["truev", "skin"],
                   help="truev: TRuE-V facial area from landmarks (default); skin: all skin in face photos")
    p.add_argument("--normalise", choices=["shades_of_grey", "grey_world", "none"])
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (or Ray actors); default 1")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local processes (default) or a Ray cluster (pip install 'vitiseg[distributed]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster, e.g. ray://head:10001 or auto; "
                                          "a local Ray instance is started when omitted")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Config overrides from the command-line flags that were given."""
    o: dict[str, Any] = {}
    if getattr(args, "model", None):
        o.setdefault("segmentation", {})["model"] = args.model
    if getattr(args, "device", None):
        o.setdefault("segmentation", {})["device"] = args.device
    if getattr(args, "face_area", None):
        o.setdefault("face", {})["area"] = args.face_area
    if getattr(args, "normalise", None):
        o.setdefault("normalise", {})["method"] = args.normalise
    if getattr(args, "no_report", False):
        o["report"] = False
    return o


def main(args: argparse.Namespace) -> int:
    try:
        cfg = load_config(args.config, overrides_from_args(args))
        regions = load_regions(args.regions)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if not args.visits.is_dir():
        log.error("visits folder not found: %s", args.visits)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(args.out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        summary = run(args.visits, args.out, cfg, regions, progress=not args.no_progress,
                      workers=max(1, args.workers), executor=args.executor, ray_address=args.ray_address)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    failed = summary["counts"]["failed"]
    if failed:
        log.error("%d photo(s) failed; see %s", failed, args.out / "failures.csv")
    return 1 if failed else 0
