"""``vitiseg report OUT``: the study report of a run folder, as one self-contained HTML page plus the cohort table.

Reads ``OUT/visits.csv`` (required), ``OUT/photos.csv``, ``OUT/run.json`` (optional) and writes, atomically:

* ``OUT/report.html``: cohort table per visit (n, lost, partial, median (IQR) F-VASI / T-VASI, median % change, Wilcoxon
  P, F-VASI50/75/90 and T-VASI50 with Wilson 95 % CI), patient-reported outcomes, a cohort figure, per patient a
  trajectory plot, visit table and baseline-vs-latest overlays per region, and a per-photo quality and error list.
  Figures (matplotlib, Agg canvas) and overlay thumbnails (JPEG, long side ``thumb_px``) are embedded as base64 data
  URIs (``images="embed"``, default) or overlays are linked relatively (``images="link"``). Inline CSS, no script, no
  network resource (a Content-Security-Policy forbids any), so the page works offline and prints cleanly.
* ``OUT/cohort.csv`` and ``OUT/cohort.json``: the same cohort table (see :mod:`vitiseg.scoring.cohort_stats` for the conventions).
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
from ..io.tables import write_csv
from ..scoring import cohort_stats as cohort_mod
from .figures import cohort_figure
from .format import data_uri, esc
from .sections import (cohort_section, conventions_section, patient_section, pro_section, quality_section,
                       region_section, run_meta)

log = logging.getLogger(__name__)

CSP = ("default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")


def stylesheet() -> str:
    """The page's CSS (package data ``report/style.css``), inlined so the page is one self-contained file."""
    return (resources.files("vitiseg.report") / "style.css").read_text(encoding="utf-8")


def read_text_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    return df


def render_html(out_dir: Path, visits: pd.DataFrame, photos: pd.DataFrame | None, run: dict[str, Any],
                table: cohort_mod.CohortTable, images: str = "embed", thumb_px: int = 320,
                regions: pd.DataFrame | None = None) -> str:
    """The report page as a string. ``visits``: typed visits table (:func:`vitiseg.scoring.cohort_stats.prepare_visits`);
    ``regions``: :func:`vitiseg.scoring.cohort_stats.region_table` (None: no region section data)."""
    title = f"vitiseg cohort report \u2014 {out_dir.name}"
    fig_src = data_uri(cohort_figure(visits, table), "image/png")
    patients = sorted(visits["patient_id"].unique(), key=natural_key)
    nav_p = " ".join(f"<a href='#patient-{i}'>{esc(p)}</a>" for i, p in enumerate(patients))
    sections = [cohort_section(table, fig_src), region_section(regions, table.mode), pro_section(table),
                "<section id='patients'><h2>Patients</h2>"
                f"<p class='note jump'>Jump to: {nav_p}</p>"]
    for i, p in enumerate(tqdm(patients, desc="report", unit="patient", disable=len(patients) < 20)):
        sections.append(patient_section(i, p, visits[visits["patient_id"] == p], photos, out_dir,
                                         table.pro_columns, images, thumb_px))
    sections.append("</section>")
    sections.append(quality_section(photos))
    sections.append(conventions_section())
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = run_meta(run)
    meta = " \u00b7 " + meta if meta else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{stylesheet()}</style></head><body><main>"
        f"<header><h1>{esc(title)}</h1><p class='meta'>Generated {esc(generated)}"
        f"{meta}</p>"
        "<nav><a href='#cohort'>Cohort table</a><a href='#regions'>Body regions</a>"
        "<a href='#pro'>Patient-reported outcomes</a>"
        "<a href='#patients'>Patients</a><a href='#quality'>Photo quality</a>"
        "<a href='#conventions'>Conventions</a></nav></header>"
        + "".join(sections)
        + "<p class='note'>Automated measurement from photographs; research use, not a diagnostic device.</p>"
        "</main></body></html>\n"
    )


def build_report(out_dir: str | Path, *, images: str = "embed", group_by: cohort_mod.GroupBy = "auto",
                 include_partial_tvasi: bool = False, thumb_px: int = 320) -> Path:
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
    atomic_write_text(out / "cohort.json", json.dumps(table.to_json_dict(), indent=2, allow_nan=False) + "\n")
    regions = None
    if (out / "regions.csv").is_file():
        raw_regions = pd.read_csv(out / "regions.csv", dtype=str, keep_default_na=False)
        regions = cohort_mod.region_table(raw_regions, visits, table)
        write_csv(regions, out / "cohort_regions.csv", float_format=None)
    page = render_html(out, visits, photos, run, table, images=images, thumb_px=thumb_px, regions=regions)
    html_path = out / "report.html"
    atomic_write_text(html_path, page)
    log.info("report: %s (%.1f MB); cohort table: %s", html_path, len(page.encode()) / 1e6, out / "cohort.csv")
    return html_path


def report_command(out: Path, images: str = "embed", group_by: cohort_mod.GroupBy = "auto",
                   include_partial_tvasi: bool = False, thumb_px: int = 320) -> int:
    """``vitiseg report``: build the report of a run folder; exit code 0, or 2 with one line for a user's mistake."""
    try:
        path = build_report(out, images=images, group_by=group_by, include_partial_tvasi=include_partial_tvasi,
                            thumb_px=thumb_px)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %s", path)
    return 0
