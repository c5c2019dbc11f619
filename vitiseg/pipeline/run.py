"""``vitiseg run``: a visits folder in; masks, overlays, F-VASI / T-VASI per visit and change from baseline out.

Data flow: discover the visits folder (:mod:`vitiseg.io.layout`) -> per photo (:mod:`.photo`): read, segment
(:func:`vitiseg.segmentation.base.segment_photo`), facial area for face photos (:mod:`vitiseg.face`), pixel counts ->
per visit: region fractions, F-VASI, T-VASI; per patient: change from baseline and responder flags
(:mod:`.tables`, :mod:`vitiseg.scoring`) -> tables, SQLite, ``run.json`` and the report (:mod:`vitiseg.report`).

Robustness: every photo is processed inside its own error boundary; a bad photo becomes a row with ``status=error``
and a message, the batch goes on, and the exit code is 1 if anything failed. Each finished photo leaves a resume record
(:mod:`vitiseg.io.records`, written atomically after its mask and overlay); a re-run reuses the records whose input
SHA-256, configuration fingerprint and model key all match, so an interrupted run resumes without redoing or losing
work. Tables are rebuilt from the records at the end of every run.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ..config import ConfigError, RegionsConfig, RunConfig, load_config, load_regions
from ..io.files import atomic_write_text
from ..io.layout import PhotoItem, discover
from ..io.records import RecordKey, load_record, save_record
from ..io.tables import write_csv, write_sqlite
from ..segmentation.artifact import ModelError
from ..segmentation.base import Segmenter
from ..segmentation.load import load_segmenter, thread_safe
from .executors import WorkerSpec, run_local, run_ray
from .photo import RunContext, output_stem, process_photo
from .provenance import describe_model, model_key, peak_rss_mb, versions
from .tables import build_tables
from .threads import plan_threads

log = logging.getLogger(__name__)


def _record_key(ctx: RunContext, views: frozenset[str]) -> RecordKey:
    return RecordKey(ctx.fingerprint, ctx.model_sha256, tuple(sorted(views)))


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
                save_record(ctx.out_dir, item.rel_path, _record_key(ctx, views), r)
        out.append(r)
    return out


def run(visits_dir: str | Path, out_dir: str | Path, cfg: RunConfig, regions: RegionsConfig | None = None,
        segmenter: Segmenter | None = None, progress: bool = True, workers: int = 1, executor: str = "local",
        ray_address: str | None = None) -> dict[str, Any]:
    """Run the whole pipeline; returns the run summary (also written to ``OUT/run.json``).

    ``workers`` > 1 or ``executor="ray"`` run the per-photo work in worker processes / Ray actors
    (see :mod:`.executors`); results are identical to the in-process run.
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    regions = regions or load_regions()
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    layout = discover(visits_dir, regions)
    photos = _check_duplicates(layout.photos)
    safe = thread_safe(cfg.segmentation) if segmenter is None else getattr(segmenter, "thread_safe", False)
    threads = plan_threads(workers, executor, safe)
    segmenter = segmenter or load_segmenter(cfg.segmentation, cfg.normalise, threads=threads.intra_op)
    ident = dict(segmenter.identity)
    t_loaded, cpu_loaded = time.perf_counter() - t0, time.process_time()
    ctx = RunContext(cfg, segmenter, out, cfg.fingerprint(), model_key(ident))
    face_views = _face_views(photos)
    log.info("%d photos in %s; %s; output %s", len(photos), layout.root, describe_model(ident), out)

    rows: list[dict[str, Any]] = []
    reused = 0
    tasks = []
    for item in photos:
        views = face_views.get((item.patient_id, item.visit_id), frozenset()) if item.region == "face" else frozenset()
        row = None if item.error else load_record(out, item.rel_path, item.path, _record_key(ctx, views))
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
    spec = WorkerSpec(cfg.model_dump_json(), str(out), ctx.fingerprint, ctx.model_sha256, threads.intra_op)
    if executor == "ray":
        results = run_ray(tasks, workers, spec, ray_address)
    else:
        results = run_local(tasks, ctx, workers, spec if workers > 1 else None, threads=threads.photos)
    by_path = {item.rel_path: (item, views) for item, views in tasks}
    stage_totals: dict[str, float] = {}
    stage_cpu: dict[str, float] = {}
    done_at: list[float] = []
    cpu_first = None
    for row in tqdm(results, total=len(tasks), desc="photos", unit="photo", disable=not progress):
        item, views = by_path[row["path"]]
        done_at.append(time.perf_counter() - t0)
        if cpu_first is None:
            cpu_first = time.process_time()
        for k, v in row.pop("_timings", {}).items():
            stage_totals[k] = stage_totals.get(k, 0.0) + v
        for k, v in row.pop("_cpu", {}).items():
            stage_cpu[k] = stage_cpu.get(k, 0.0) + v
        if row["status"] == "ok":
            save_record(out, item.rel_path, _record_key(ctx, views), row)
        else:
            log.error("%s: %s", item.rel_path, row["error"])
        rows.append(row)
    rows = _repartition_faces(rows, photos, ctx, face_views)
    for r in rows:
        r.pop("_timings", None)
        r.pop("_cpu", None)

    photos_df, regions_df, visits_df, long_df = build_tables(rows, layout, regions)
    failures = photos_df[photos_df["status"] != "ok"][["path", "error"]]
    write_csv(photos_df, out / "photos.csv")
    write_csv(regions_df, out / "regions.csv")
    write_csv(visits_df, out / "visits.csv")
    write_csv(long_df, out / "longitudinal.csv")
    write_csv(failures, out / "failures.csv")
    write_sqlite({"photos": photos_df, "regions": regions_df, "visits": visits_df, "longitudinal": long_df},
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
        "versions": versions(),
        "counts": {"photos": len(photos_df), "ok": int((photos_df["status"] == "ok").sum()),
                   "failed": len(failures), "reused": reused, "skipped_files": len(layout.skipped),
                   "patients": len(layout.visit_order), "visits": len(visits_df)},
        "skipped_files": layout.skipped,
        "pro_columns": layout.pro_columns,
        "executor": {"kind": executor, "workers": workers, "ray_address": ray_address},
        "peak_rss_mb": peak_rss_mb(),
        "stage_seconds": {k: round(v, 3) for k, v in sorted(stage_totals.items())},
        "stage_cpu_seconds": {k: round(v, 3) for k, v in sorted(stage_cpu.items())},
        # seconds from the start of the run: segmenter loaded, first and last photo measured
        "timeline_seconds": {"model_loaded": round(t_loaded, 3),
                             "first_photo": round(done_at[0], 3) if done_at else None,
                             "last_photo": round(done_at[-1], 3) if done_at else None},
        # CPU seconds of this process since it started (imports included) at the same points: start-up on a busy
        # machine, where wall times stretch
        "timeline_cpu_seconds": {"model_loaded": round(cpu_loaded, 3),
                                 "first_photo": round(cpu_first, 3) if cpu_first is not None else None},
        "threads": {"photos_per_process": threads.photos, "intra_op": threads.intra_op},
    }
    atomic_write_text(out / "run.json", json.dumps(summary, indent=2, sort_keys=True, default=str))
    if cfg.report:
        try:
            from ..report.html import build_report

            summary["report"] = str(build_report(out))
        except Exception as exc:  # noqa: BLE001 - the tables are written; a report failure is reported, not fatal
            log.exception("report failed: %s", exc)
            summary["report_error"] = str(exc)
    log.info("done: %d ok, %d failed, %d reused from a previous run", summary["counts"]["ok"],
             summary["counts"]["failed"], reused)
    return summary


def run_command(visits: Path, out: Path, config: Path | None = None, overrides: dict[str, Any] | None = None,
                regions_path: Path | None = None, progress: bool = True, workers: int = 1, executor: str = "local",
                ray_address: str | None = None) -> int:
    """``vitiseg run``: load and check the configuration, log to ``OUT/run.log``, run; the exit code.

    0 when every photo was measured, 1 when any failed (listed in ``OUT/failures.csv``), 2 for a user's mistake
    (bad configuration, missing visits folder), said in one line.
    """
    try:
        cfg = load_config(config, overrides)
        regions = load_regions(regions_path)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    if not visits.is_dir():
        log.error("visits folder not found: %s", visits)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(out / "run.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    try:
        summary = run(visits, out, cfg, regions, progress=progress, workers=max(1, workers), executor=executor,
                      ray_address=ray_address)
    except ModelError as exc:  # missing model folder, backend not installed, stale ONNX file: the user's to fix
        log.error("%s", exc)
        return 2
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    failed = summary["counts"]["failed"]
    if failed:
        log.error("%d photo(s) failed; see %s", failed, out / "failures.csv")
    return 1 if failed else 0
