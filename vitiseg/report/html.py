"""``vitiseg report OUT``: the study report of a run folder, as one self-contained HTML page plus the cohort table.

Reads ``OUT/visits.csv`` (required), ``OUT/photos.csv``, ``OUT/run.json`` (optional) and writes, atomically:

* ``OUT/report.html``: cohort table per visit (n, lost, partial, median (IQR) F-VASI / T-VASI, median % change, Wilcoxon
  P, F-VASI50/75/90 and T-VASI50 with Wilson 95 % CI), patient-reported outcomes, a cohort figure, per patient a
  trajectory plot, visit table and baseline-vs-latest overlays per region, and a per-photo quality and error list;
  with ``changes.csv`` / ``patches.csv`` (follow-up tracking) the repigmentation tables and the patients' patches
  (:mod:`.tracking`).
  Figures (matplotlib, Agg canvas) and overlay thumbnails (JPEG, long side ``thumb_px``) are embedded as base64 data
  URIs (``images="embed"``, default) or overlays are linked relatively (``images="link"``). Inline CSS, no script, no
  network resource (a Content-Security-Policy forbids any), so the page works offline and prints cleanly.
* ``OUT/cohort.csv`` and ``OUT/cohort.json``: the same cohort table (see :mod:`vitiseg.scoring.cohort_stats` for the conventions).
* With an ``arm`` column in visits.csv (two arms or more): ``OUT/cohort_by_arm.csv`` (the cohort table per arm) and
  ``OUT/cohort_arms.csv`` (the between-arm comparison; :mod:`vitiseg.scoring.arms`), also under ``"arms"`` in
  cohort.json.

The page also has a waterfall plot of each patient's % change at the last visit, the model's measured accuracy and
known limits from its model card (:mod:`.model_card`), links to the data files, and full-size overlays one click
away from every thumbnail.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from ..io.files import atomic_write_text
from ..io.layout import natural_key
from ..io.tables import write_csv, write_sqlite
from ..scoring import cohort_stats as cohort_mod
from ..scoring.arms import CONVENTIONS as ARM_CONVENTIONS, ArmComparison, compare_arms, patient_arms, percent_changes
from .arm_section import arm_section
from .calibration import calibration_section
from .figures import cohort_figure, waterfall_figure
from .files_section import files_section
from .format import data_uri, esc, group_label
from .model_card import model_box
from .sections import (cohort_section, conventions_section, patient_section, pro_section, quality_section,
                       region_section, run_meta)
from .tracking import cohort_tracking_section, load_tracking, patient_tracking_section

log = logging.getLogger(__name__)

COHORT_KEYS = {"cohort": ["visit"], "cohort_regions": ["region", "visit"], "cohort_by_arm": ["arm", "visit"],
               "cohort_arms": ["visit", "endpoint", "arm"]}
CSP = ("default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")


def stylesheet() -> str:
    """The page's CSS (package data ``report/style.css``), inlined so the page is one self-contained file."""
    return (resources.files("vitiseg.report") / "style.css").read_text(encoding="utf-8")


def read_text_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    return df


def report_title(out_dir: Path, run: dict[str, Any], title: str | None = None) -> str:
    """The page title: ``title``, else the run's ``--title`` (run.json), else one naming the run folder."""
    return title or str(run.get("title") or "") or f"vitiseg cohort report \u2014 {out_dir.name}"


def waterfall_section(visits: pd.DataFrame, table: cohort_mod.CohortTable, arms: pd.Series) -> str:
    """``#waterfall``: each patient's % change of F-VASI and T-VASI at the last visit group."""
    if len(table.groups) < 2:
        return ""
    last = table.groups[-1]
    pct = percent_changes(visits, table)
    pct = pct[pct["visit"] == last]
    figs = []
    for score, label in (("f_vasi", "F-VASI"), ("t_vasi", "T-VASI")):
        ch = pct[["patient_id", f"{score}_change_pct"]].rename(columns={f"{score}_change_pct": "change_pct"})
        if ch["change_pct"].isna().all():
            figs.append(f"<p class='note'>{label}: no patient has a defined % change at {esc(group_label(last, table.mode))}"
                        + (" (partial T-VASI: regions not photographed)." if score == "t_vasi" else ".") + "</p>")
            continue
        th = cohort_mod.F_THRESHOLDS if score == "f_vasi" else cohort_mod.T_THRESHOLDS
        png = waterfall_figure(ch, f"{label}: % change from baseline at {group_label(last, table.mode)}",
                               arms if len(arms) else None, th)
        figs.append(f"<figure><img class='waterfall' alt='{label} waterfall plot' src='{data_uri(png, 'image/png')}'>"
                    "</figure>")
    return ("<section id='waterfall'><h2>Response per patient</h2><p class='note'>One bar per patient (worst to best; "
            "negative = improvement), dashed lines at the responder cut-offs. Patients with a zero baseline or "
            "without a (complete) score at the visit are not drawn.</p>" + "".join(figs) + "</section>")


def render_html(out_dir: Path, visits: pd.DataFrame, photos: pd.DataFrame | None, run: dict[str, Any],
                table: cohort_mod.CohortTable, images: str = "embed", thumb_px: int = 320,
                regions: pd.DataFrame | None = None, title: str | None = None, arms: ArmComparison | None = None,
                progress: bool = True) -> str:
    """The report page as a string. ``visits``: typed visits table (:func:`vitiseg.scoring.cohort_stats.prepare_visits`);
    ``regions``: :func:`vitiseg.scoring.cohort_stats.region_table` (None: no region section data); ``arms``:
    :func:`vitiseg.scoring.arms.compare_arms` (None: no arm section)."""
    title = report_title(out_dir, run, title)
    fig_src = data_uri(cohort_figure(visits, table), "image/png")
    patients = sorted(visits["patient_id"].unique(), key=natural_key)
    nav_p = " ".join(f"<a href='#patient-{i}'>{esc(p)}</a>" for i, p in enumerate(patients))
    tracking = load_tracking(out_dir)
    sections = [model_box(run), cohort_section(table, fig_src), arm_section(arms),
                waterfall_section(visits, table, patient_arms(visits) if arms is not None else pd.Series(dtype=str)),
                region_section(regions, table.mode), cohort_tracking_section(tracking, table.mode), pro_section(table),
                "<section id='patients'><h2>Patients</h2>"
                f"<p class='note jump'>Jump to: {nav_p}</p>"]
    for i, p in enumerate(tqdm(patients, desc="report", unit="patient", disable=len(patients) < 20 or not progress)):
        sections.append(patient_section(i, p, visits[visits["patient_id"] == p], photos, out_dir,
                                         table.pro_columns, images, thumb_px,
                                         patient_tracking_section(p, tracking, photos, out_dir)))
    sections.append("</section>")
    sections.append(quality_section(photos))
    sections.append(calibration_section(out_dir, photos, run))  # before the file list: it writes skin_colour.csv
    sections.append(files_section(out_dir))
    sections.append(conventions_section())
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = run_meta(run)
    meta = " \u00b7 " + meta if meta else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{stylesheet()}</style></head><body><main>"
        f"<header><h1>{esc(title)}</h1><p class='meta'>vitiseg cohort report \u00b7 {esc(out_dir.name)} \u00b7 "
        f"generated {esc(generated)}{meta}</p>"
        "<nav><a href='#cohort'>Cohort table</a>" + ("<a href='#arms'>Treatment arms</a>" if arms else "")
        + "<a href='#waterfall'>Response per patient</a><a href='#regions'>Body regions</a>"
        "<a href='#tracking'>Repigmentation</a>"
        "<a href='#pro'>Patient-reported outcomes</a>"
        "<a href='#patients'>Patients</a><a href='#quality'>Photo quality</a><a href='#calibration'>Calibration</a>"
        "<a href='#files'>Data files</a>"
        "<a href='#conventions'>Conventions</a></nav></header>"
        + "".join(sections)
        + "<p class='note'>Automated measurement from photographs; research use, not a diagnostic device.</p>"
        "</main></body></html>\n"
    )


def build_report(out_dir: str | Path, *, images: str = "embed", group_by: cohort_mod.GroupBy = "auto",
                 include_partial_tvasi: bool = False, thumb_px: int = 320, title: str | None = None,
                 progress: bool = True) -> Path:
    """Write ``OUT/report.html``, ``OUT/cohort.csv``, ``OUT/cohort.json`` and (with regions.csv) ``OUT/cohort_regions.csv``
    for a run folder; returns the HTML path.

    Raises FileNotFoundError when ``OUT/visits.csv`` is absent and ValueError for a malformed visits table.
    """
    out = Path(out_dir).resolve()
    if images not in ("embed", "link"):
        raise ValueError(f"images must be 'embed' or 'link', not {images!r}")
    vpath = out / "visits.csv"
    if not vpath.is_file():
        raise FileNotFoundError(f"{vpath} not found: is {out} a vitiseg run folder?")
    visits = cohort_mod.load_visits_table(vpath)
    run: dict[str, Any] = {}
    if (out / "run.json").is_file():
        try:
            run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            log.warning("run.json unreadable (%s); report without run details", exc)
    photos = read_text_csv(out / "photos.csv") if (out / "photos.csv").is_file() else None
    pro = run.get("pro_columns") if isinstance(run.get("pro_columns"), list) else None
    table = cohort_mod.cohort_table(visits, pro_columns=pro, group_by=group_by,
                                    include_partial_tvasi=include_partial_tvasi)
    frame = table.to_frame()
    write_csv(frame, out / "cohort.csv", float_format=None)
    arms = compare_arms(visits, table)
    cohort_json = table.to_json_dict()
    if arms is not None:
        write_csv(arms.tables_frame(), out / "cohort_by_arm.csv", float_format=None)
        comparison = arms.to_frame()
        write_csv(comparison, out / "cohort_arms.csv", float_format=None)
        cohort_json["arms"] = {"arms": arms.arms, "reference": arms.reference, "n_patients": arms.n_patients,
                               "conventions": ARM_CONVENTIONS,
                               "comparison": json.loads(comparison.to_json(orient="records"))}
    atomic_write_text(out / "cohort.json", json.dumps(cohort_json, indent=2, allow_nan=False) + "\n")
    regions = None
    if (out / "regions.csv").is_file():
        raw_regions = pd.read_csv(out / "regions.csv", dtype=str, keep_default_na=False)
        regions = cohort_mod.region_table(raw_regions, visits, table)
        write_csv(regions, out / "cohort_regions.csv", float_format=None)
    cohort_tables = {"cohort": frame, "cohort_regions": regions, "cohort_by_arm": arms and arms.tables_frame(),
                     "cohort_arms": arms and arms.to_frame()}
    if (out / "vitiseg.sqlite").is_file():  # the run's database gets the cohort tables too
        write_sqlite(cohort_tables, out / "vitiseg.sqlite", COHORT_KEYS, keep_other_tables=True)
    page = render_html(out, visits, photos, run, table, images=images, thumb_px=thumb_px, regions=regions, title=title,
                       arms=arms, progress=progress)
    html_path = out / "report.html"
    atomic_write_text(html_path, page)
    log.debug("report: %s (%.1f MB); cohort table: %s", html_path, len(page.encode()) / 1e6, out / "cohort.csv")
    return html_path


def report_command(out: Path, images: str = "embed", group_by: cohort_mod.GroupBy = "auto",
                   include_partial_tvasi: bool = False, thumb_px: int = 320, title: str | None = None,
                   progress: bool = True) -> int:
    """``vitiseg report``: build the report of a run folder; exit code 0, or 2 with one line for a user's mistake."""
    try:
        path = build_report(out, images=images, group_by=group_by, include_partial_tvasi=include_partial_tvasi,
                            thumb_px=thumb_px, title=title, progress=progress)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("report: %s; cohort tables: %s", path, path.parent / "cohort.csv")
    return 0
