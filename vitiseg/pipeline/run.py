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
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from .. import faults
from ..calibration.areas import CALIBRATION_TABLE_KEYS, calibration_tables
from ..config import RegionsConfig, RunConfig, load_config, load_regions
from ..faults import fault_point
from ..io.files import OutputWriteError, atomic_write_text, remove_stale_temporaries
from ..io.layout import LayoutError, PhotoItem, VisitsLayout, discover
from ..io.lock import RunLocked, run_lock
from ..io.pseudonym import PseudonymError, Pseudonymiser, check_out_dir, read_key
from ..io.records import RecordKey, load_record, save_record
from ..io.tables import write_csv, write_csv_rows, write_sqlite
from ..segmentation.artifact import ModelError
from ..segmentation.base import Segmenter
from ..segmentation.load import load_segmenter_checked, thread_safe
from ..usage import (
    UsageError,
    require_device,
    require_input_dir,
    require_output_dir,
    require_outside,
)
from .executors import WorkerSpec, run_local, run_ray
from .guards import check_layout
from .photo import RunContext, output_stem, process_photo
from .provenance import describe_model, model_key, peak_rss_mb, versions
from .summary import closing_summary
from .tables import TABLE_KEYS, build_tables
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
        ray_address: str | None = None, title: str | None = None, pseudonymiser: Pseudonymiser | None = None
        ) -> dict[str, Any]:
    """Run the whole pipeline; returns the run summary (also written to ``OUT/run.json``).

    ``workers`` > 1 or ``executor="ray"`` run the per-photo work in worker processes / Ray actors
    (see :mod:`.executors`); results are identical to the in-process run. ``title``: the study title of the report
    (kept in run.json for later ``vitiseg report`` calls). Raises :class:`vitiseg.usage.UsageError` for a user's
    mistake (missing or empty visits folder, ``out_dir`` a file or inside the visits folder, missing model folder,
    unavailable device). The run holds ``OUT``'s run lock (:mod:`vitiseg.io.lock`: RunLocked if another process holds
    it) and first removes temporary files a killed run left there. ``pseudonymiser``: patient IDs replaced by keyed
    pseudonyms in every output (:mod:`vitiseg.io.pseudonym`).
    """
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    regions = regions or load_regions()
    require_input_dir(visits_dir, "visits folder")
    require_outside(out_dir, visits_dir)
    if segmenter is None:
        require_device(cfg.segmentation.device)
    layout = discover(visits_dir, regions, pseudonymiser)
    check_layout(layout)  # before OUT is created: a refused run leaves no output folder behind
    out = require_output_dir(out_dir).resolve()
    with run_lock(out):
        return _run_locked(layout, out, cfg, regions, segmenter, progress, workers, executor, ray_address, title,
                           pseudonymiser, started, t0)


def _run_locked(layout: VisitsLayout, out: Path, cfg: RunConfig, regions: RegionsConfig, segmenter: Segmenter | None,
                progress: bool, workers: int, executor: str, ray_address: str | None, title: str | None,
                pseudonymiser: Pseudonymiser | None, started: str, t0: float) -> dict[str, Any]:
    """The run after its checks, holding the run lock of ``out``."""
    check_out_dir(out, pseudonymiser)
    for p in remove_stale_temporaries(out):
        log.info("removed %s, left by an interrupted run", p.relative_to(out))
    photos = _check_duplicates(layout.photos)
    if segmenter is None:
        try:
            safe = thread_safe(cfg.segmentation)
        except ModelError as exc:  # missing model folder: the user's to fix
            raise UsageError(str(exc)) from None
    else:
        safe = getattr(segmenter, "thread_safe", False)
    threads = plan_threads(workers, executor, safe and not faults.active())
    segmenter = segmenter or load_segmenter_checked(cfg.segmentation, cfg.normalise, threads=threads.intra_op)
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
        expect = {"patient_id": item.patient_id, "visit_id": item.visit_id, "region": item.region, "view": item.view}
        row = None if item.error else load_record(out, item.rel_path, item.path, _record_key(ctx, views), expect)
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
    cal_tables = calibration_tables(photos_df, regions_df, out)  # patch areas in cm2, hand units
    for name, df in cal_tables.items():
        write_csv(df, out / f"{name}.csv")
    tracking: dict[str, Any] = {"tables": {}}
    if cfg.tracking.enabled:  # follow-ups aligned to the baseline; its failures are rows, never a failed run
        from ..tracking.step import TRACKING_KEYS, track_run

        tracking = track_run(out, layout, rows, cfg, progress, workers)
        tracking["keys"] = TRACKING_KEYS
    # the report adds its cohort tables
    write_sqlite({"photos": photos_df, "regions": regions_df, "visits": visits_df, "longitudinal": long_df,
                  **cal_tables, **tracking["tables"]}, out / "vitiseg.sqlite",
                 {**TABLE_KEYS, **CALIBRATION_TABLE_KEYS, **tracking.get("keys", {})})
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
        "title": title or "",
        "pseudonym_key_id": pseudonymiser.key_id if pseudonymiser else None,
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
    if "counts" in tracking:
        summary["tracking"] = tracking["counts"]
    atomic_write_text(out / "run.json", json.dumps(summary, indent=2, sort_keys=True, default=str))
    if cfg.report:
        fault_point("report")
        try:
            from ..report.html import build_report

            summary["report"] = str(build_report(out, title=title, progress=progress))
        except Exception as exc:  # noqa: BLE001 - the tables are written; a report failure is reported, not fatal
            log.exception("report failed: %s", exc)
            summary["report_error"] = str(exc)
    summary["headline"] = closing_summary(visits_df, summary)
    return summary


def run_command(visits: Path, out: Path, config: Path | None = None, overrides: dict[str, Any] | None = None,
                regions_path: Path | None = None, progress: bool = True, workers: int = 1, executor: str = "local",
                ray_address: str | None = None, title: str | None = None, pseudonymise: str | None = None,
                pseudonym_map: Path | None = None) -> int:
    """``vitiseg run``: load and check the configuration, log to ``OUT/run.log``, run, print the closing summary;
    the exit code.

    0 when every photo was measured, 1 when any failed (listed in ``OUT/failures.csv``). A user's mistake (bad
    configuration, missing or empty visits folder, unusable manifest.csv / visits.csv, another run writing to ``OUT``,
    an output folder that cannot be written, an unusable pseudonymisation key) raises
    :class:`vitiseg.config.ConfigError` or :class:`vitiseg.usage.UsageError`, which the command line turns into one
    line and exit code 2. ``pseudonymise``: the key (or ``@FILE``) of :mod:`vitiseg.io.pseudonym`; ``pseudonym_map``:
    where to write the mapping (outside ``OUT``).
    """
    cfg = load_config(config, overrides)
    regions = load_regions(regions_path)
    try:
        ps = Pseudonymiser(read_key(pseudonymise)) if pseudonymise else None
    except PseudonymError as exc:
        raise UsageError(str(exc)) from None
    require_input_dir(visits, "visits folder")
    require_outside(out, visits)
    if pseudonym_map is not None and (ps is None or pseudonym_map.resolve().is_relative_to(out.resolve())):
        raise UsageError("--pseudonym-map needs --pseudonymise and a file outside --out (the map re-identifies "
                         "patients)")
    require_device(cfg.segmentation.device)
    created = not out.exists()
    out = require_output_dir(out)
    try:
        with run_lock(out):  # refuse before touching OUT/run.log when another run is writing there
            handler = logging.FileHandler(out / "run.log", encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            logging.getLogger().addHandler(handler)
            try:
                summary = run(visits, out, cfg, regions, progress=progress, workers=max(1, workers),
                              executor=executor, ray_address=ray_address, title=title, pseudonymiser=ps)
                for line in summary["headline"]:
                    log.info("%s", line)
                if summary["counts"]["failed"]:
                    log.warning("%d photo(s) failed: see %s", summary["counts"]["failed"], out / "failures.csv")
            except UsageError:
                if created:  # found out before any photo: leave no half-made output folder behind
                    logging.getLogger().removeHandler(handler)
                    handler.close()
                    shutil.rmtree(out, ignore_errors=True)
                raise
            finally:
                logging.getLogger().removeHandler(handler)
                handler.close()
            if ps is not None and pseudonym_map is not None:
                write_csv_rows(ps.mapping_rows(), ["kind", "original", "pseudonym"], pseudonym_map)
                log.info("pseudonym map (keep it apart from the results): %s", pseudonym_map)
    except (RunLocked, OutputWriteError, LayoutError, PseudonymError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:  # OUT/run.log or OUT itself cannot be created
        raise UsageError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return 1 if summary["counts"]["failed"] else 0
