"""The report's calibration section: colour charts and scale markers found, the patients' own hand units beside the
Lund-Browder estimate, and the patients whose healthy-skin colour moved between visits more than calibration explains.

Reads the run folder's photos.csv (given), visits.csv, hand_units.csv and run.json (for
``calibration.consistency``); writes ``OUT/skin_colour.csv`` (:func:`vitiseg.calibration.consistency.skin_colour_changes`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from ..calibration.consistency import skin_colour_changes
from ..config import PALM, ConsistencyConfig
from ..io.tables import write_csv
from .format import esc, fmt


def consistency_config(run: dict[str, Any]) -> ConsistencyConfig:
    """The run's ``calibration.consistency`` settings from run.json, the defaults when absent or unreadable."""
    try:
        return ConsistencyConfig.model_validate(run["config"]["calibration"]["consistency"])
    except (KeyError, TypeError, ValidationError):
        return ConsistencyConfig()


def _num(s: pd.Series) -> pd.Series:
    return pd.to_numeric(s, errors="coerce")


def references_summary(photos: pd.DataFrame) -> str:
    """One paragraph: photos with a chart (corrected / rejected), mean dE00 before -> after, photos with a scale."""
    ok = photos[(photos["status"] == "ok")] if "status" in photos.columns else photos
    chart = ok.get("chart", pd.Series("", index=ok.index)).fillna("")
    corrected = ok[chart == "corrected"]
    rejected = int(chart.str.startswith("rejected").sum())
    scaled = int(_num(ok.get("px_per_cm", pd.Series(dtype=str))).notna().sum())
    text = f"{len(ok)} measured photos: {len(corrected)} colour-corrected by a ColorChecker"
    if len(corrected):
        text += (f" (patches' mean CIEDE2000 {fmt(_num(corrected['chart_de00_before']).mean(), 1)} as photographed, "
                 f"{fmt(_num(corrected['chart_de00_after']).mean(), 2)} after correction)")
    text += f", {rejected} chart candidates rejected, {len(ok) - len(corrected) - rejected} without a chart "
    text += "(shades-of-grey normalisation only); "
    text += f"{scaled} with a scale marker (areas in cm2)."
    return f"<p>{esc(text)}</p>"


def table_html(table_id: str, columns: list[tuple[str, str]], cells: list[list[str]]) -> str:
    """A data table: ``columns`` as (heading, ``l`` for a left-aligned text column or ``""``), ``cells`` already
    escaped / formatted text, one list per row."""
    head = "".join(f"<th class='{a}'>{esc(h)}</th>" if a else f"<th>{esc(h)}</th>" for h, a in columns)
    body = "".join("<tr>" + "".join(f"<td class='{a}'>{c}</td>" if a else f"<td>{c}</td>"
                                    for c, (_, a) in zip(row, columns)) + "</tr>" for row in cells)
    return f"<table class='data' id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def hand_unit_html(out_dir: Path) -> str:
    path = out_dir / "hand_units.csv"
    if not path.is_file():
        return ""
    hu = pd.read_csv(path, dtype={"patient_id": str, "visit_id": str})
    if hu.empty:
        return ("<h3>Hand units</h3><p class='note'>No palm photo with a marker (palm.jpg): areas stay in the "
                "Lund-Browder hand units of regions.yaml.</p>")
    per_patient = hu.groupby("patient_id")["hand_unit_cm2"].median()
    columns = [("Patient", "l"), ("Visit", "l"), ("Region", "l"), ("Hand unit, cm2", ""),
               ("Skin photographed, cm2", ""), ("Skin photographed, own HU", ""),
               ("Region size, Lund-Browder HU", ""), ("Depigmented, cm2", ""),
               ("Depigmented, own HU (photographed)", ""), ("Depigmented, Lund-Browder HU (size x fraction)", "")]
    cells = [[esc(r.patient_id), esc(r.visit_id), esc(r.region), fmt(r.hand_unit_cm2, 1), fmt(r.skin_cm2, 1),
              fmt(r.skin_hu, 2), fmt(r.lund_browder_hu, 1), fmt(r.depigmented_cm2, 1), fmt(r.depigmented_hu, 2),
              fmt(r.lund_browder_depigmented_hu, 2)] for r in hu.itertuples(index=False)]
    summary = ", ".join(f"{esc(p)} {fmt(v, 1)} cm2" for p, v in per_patient.items())
    return ("<h3>Hand units: the patient's own against Lund-Browder</h3>"
            f"<p>Hand unit (palm + fingers, median over visits): {summary}.</p>" + table_html("hand-units", columns, cells)
            + "<p class='note'>Own hand units count what the photos show (a lower bound when a region is not "
            "photographed whole); Lund-Browder hand units apply the measured fraction to the region's adult size.</p>")


def skin_colour_html(changes: pd.DataFrame, cfg: ConsistencyConfig) -> str:
    flagged = changes[changes["flagged"].astype(bool)]
    head = (f"<h3>Healthy-skin colour between visits</h3><p>{len(changes)} photo pairs compared with the first visit "
            f"(same region and view); flagged when L* moves more than {cfg.max_delta_L:g} or ITA more than "
            f"{cfg.max_delta_ita:g} deg (beyond the chart calibration's error on synthetic casts): "
            f"<span class='{'warn' if len(flagged) else ''}'>{len(flagged)} flagged</span>, "
            f"{flagged['patient_id'].nunique()} patient(s). Full list: skin_colour.csv.</p>")
    if flagged.empty:
        return head
    columns = [("Patient", "l"), ("Region", "l"), ("View", "l"), ("Visits", "l"), ("\u0394L*", ""),
               ("\u0394ITA, deg", ""), ("Charts", "l"), ("Why", "l wrap warn")]
    cells = [[esc(r.patient_id), esc(r.region), esc(r.view), f"{esc(r.baseline_visit)} \u2192 {esc(r.visit_id)}",
              fmt(r.delta_L, 1), fmt(r.delta_ita, 1), esc(r.charts), esc(r.reason)]
             for r in flagged.itertuples(index=False)]
    return head + table_html("skin-colour", columns, cells)


def calibration_section(out_dir: Path, photos: pd.DataFrame | None, run: dict[str, Any]) -> str:
    """The section's HTML; writes ``OUT/skin_colour.csv``."""
    if photos is None or "chart" not in photos.columns:
        return ("<section id='calibration'><h2>Calibration and consistency</h2><p class='note'>photos.csv has no "
                "calibration columns.</p></section>")
    visits = pd.read_csv(out_dir / "visits.csv", dtype=str, keep_default_na=False)
    cfg = consistency_config(run)
    changes = skin_colour_changes(photos, visits, cfg)
    write_csv(changes, out_dir / "skin_colour.csv", float_format=None)  # values rounded in skin_colour_changes
    n_palm = int((photos["region"] == PALM).sum())
    palm_note = f" {n_palm} palm photo(s)." if n_palm else ""
    return ("<section id='calibration'><h2>Calibration and consistency</h2>" + references_summary(photos)
            + (f"<p class='note'>{esc(palm_note.strip())}</p>" if palm_note else "")
            + hand_unit_html(out_dir) + skin_colour_html(changes, cfg) + "</section>")

