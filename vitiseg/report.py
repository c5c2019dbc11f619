"""``vitiseg report OUT``: the study report of a run folder, as one self-contained HTML page plus the cohort table.

Reads ``OUT/visits.csv`` (required), ``OUT/photos.csv``, ``OUT/run.json`` (optional) and writes, atomically:

* ``OUT/report.html``: cohort table per visit (n, lost, partial, median (IQR) F-VASI / T-VASI, median % change, Wilcoxon
  P, F-VASI50/75/90 and T-VASI50 with Wilson 95 % CI), patient-reported outcomes, a cohort figure, per patient a
  trajectory plot, visit table and baseline-vs-latest overlays per region, and a per-photo quality and error list.
  Figures (matplotlib, Agg canvas) and overlay thumbnails (JPEG, long side ``thumb_px``) are embedded as base64 data
  URIs (``images="embed"``, default) or overlays are linked relatively (``images="link"``). Inline CSS, no script, no
  network resource (a Content-Security-Policy forbids any), so the page works offline and prints cleanly.
* ``OUT/cohort.csv`` and ``OUT/cohort.json``: the same cohort table (see :mod:`vitiseg.cohort` for the conventions).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm import tqdm

from . import cohort as cohort_mod
from .images import ImageReadError, atomic_write_text, encode_jpeg, read_rgb, resize_long_side
from .visits import percent_change

log = logging.getLogger(__name__)

REGION_ORDER = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
LOW_SKIN_FRACTION = 0.01  # photos whose skin covers < 1 % of the frame are flagged in the quality list
# photos with >= 5 % of the measured skin near the U-Net's threshold are flagged: on held-out synthetic photos their
# depigmented fraction was off by 10.9-13.7 pp on average vs 2.3-3.8 pp below (test / val split, shipped model;
# scripts/uncertainty_calibration.py, vitiseg.model.UNetSegmenter.predict_with_ambiguity)
UNCERTAIN_SHARE_WARN = 0.05
DASH = "\u2014"

CSS = """
:root { --ink:#1d2733; --muted:#5b6775; --line:#d5dbe2; --head:#eef2f6; --accent:#1f5f8b; --bad:#a4262c;
        --warn:#8a5a00; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, "Liberation Sans", sans-serif; color: var(--ink); margin: 0;
       background: #fff; font-size: 14px; line-height: 1.45; }
main { max-width: 1400px; margin: 0 auto; padding: 24px 32px 48px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 10px; margin-bottom: 12px; }
h1 { font-size: 24px; margin: 0 0 4px; font-weight: 600; }
h2 { font-size: 18px; margin: 30px 0 8px; color: var(--accent); border-bottom: 1px solid var(--line);
     padding-bottom: 4px; }
h3 { font-size: 16px; margin: 22px 0 6px; }
h4 { font-size: 14px; margin: 14px 0 4px; color: var(--muted); }
.meta { color: var(--muted); margin: 2px 0; }
nav a, .jump a { color: var(--accent); margin-right: 14px; text-decoration: none; }
table.data { border-collapse: collapse; margin: 6px 0 8px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid var(--line); padding: 4px 8px; text-align: right;
                               vertical-align: top; white-space: nowrap; }
table.data th { background: var(--head); font-weight: 600; text-align: center; white-space: normal; }
table.data td.l, table.data th.l { text-align: left; }
table.data tr.base td { background: #fafbfc; }
.note { color: var(--muted); font-size: 12.5px; max-width: 1100px; }
.bad { color: var(--bad); }
.warn { color: var(--warn); }
figure { margin: 8px 0; }
figure img { max-width: 100%; }
.patient { border-top: 1px solid var(--line); margin-top: 18px; page-break-inside: avoid; }
.row { display: flex; flex-wrap: wrap; gap: 8px 24px; align-items: center; }
.pairs { display: flex; flex-wrap: wrap; gap: 10px 32px; }
.pair table { border-collapse: collapse; }
.pair td, .pair th { padding: 2px 8px 2px 0; vertical-align: top; text-align: left; }
.pair th { color: var(--muted); font-weight: 600; font-size: 12.5px; }
.plabel { font-weight: 600; margin-top: 6px; }
.pair img { width: 300px; max-width: 100%; border: 1px solid var(--line); display: block; }
.missing { width: 300px; height: 60px; border: 1px dashed var(--line); color: var(--muted); padding: 6px;
           font-size: 12px; white-space: normal; }
.scroll { overflow-x: auto; }
table.data td.wrap { white-space: normal; min-width: 320px; max-width: 640px; }
#cohort-table { font-size: 12.5px; }
#cohort-table th, #cohort-table td { padding: 3px 6px; }
.cap { font-size: 12px; color: var(--muted); }
ul.conv li { margin: 2px 0; }
@media print { main { padding: 0; } nav { display: none; } }
"""

CSP = ("default-src 'none'; img-src data: 'self' file:; style-src 'unsafe-inline'; script-src 'none'; "
       "base-uri 'none'; form-action 'none'")


# ------------------------------------------------------------------------------------------------- formatting


def esc(x: Any) -> str:
    """HTML-escaped text of a value (None/NaN -> em dash)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 2) -> str:
    """Fixed-point number, em dash when missing."""
    if x is None:
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return DASH
    if not math.isfinite(v):
        return DASH
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0" for tiny negatives


def fmt_median_iqr(med: Any, q1: Any, q3: Any, digits: int = 2) -> str:
    """``median (q1–q3)``, or ``median (q1 to q3)`` when a quartile is negative; em dash when there is no value."""
    if med is None or (isinstance(med, float) and not math.isfinite(med)):
        return DASH
    sep = " to " if (q1 is not None and float(q1) < 0) or (q3 is not None and float(q3) < 0) else "\u2013"
    return f"{fmt(med, digits)} ({fmt(q1, digits)}{sep}{fmt(q3, digits)})"


def fmt_p(p: Any) -> str:
    """P value: ``<0.001``, 3 decimals below 0.1, else 2 decimals; em dash when undefined."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return DASH
    p = float(p)
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def fmt_rate(k: Any, n: Any, lo: Any, hi: Any) -> str:
    """``k/n (r %; lo–hi)`` with percentages rounded to integers; em dash when n is 0/undefined."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)) or int(n) == 0:
        return DASH
    k, n = int(k), int(n)
    return f"{k}/{n} ({100 * k / n:.0f}%; {100 * lo:.0f}\u2013{100 * hi:.0f})"


# ---------------------------------------------------------------------------------------------------- figures


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib Figure rendered on the Agg canvas (no pyplot global state)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def cohort_figure(visits: pd.DataFrame, table: cohort_mod.CohortTable) -> bytes:
    """Per-patient F-VASI / T-VASI lines (grey) with the cohort median and IQR per visit group (blue)."""
    fig = Figure(figsize=(10, 3.2))
    key = visits["visit_id"] if table.mode == "visit_id" else visits["visit_index"].astype(str)
    pos = {g: i for i, g in enumerate(table.groups)}
    x = key.map(pos)
    for ax, col, label, med_key in ((fig.add_subplot(1, 2, 1), "f_vasi", "F-VASI", "f_vasi"),
                                    (fig.add_subplot(1, 2, 2), "t_vasi", "T-VASI", "t_vasi")):
        for _, g in visits.assign(_x=x).sort_values("_x").groupby("patient_id"):
            ok = g[col].notna()
            if table.include_partial_tvasi is False and col == "t_vasi":
                ok &= ~g["t_vasi_partial"].astype(bool)
            ax.plot(g.loc[ok, "_x"], g.loc[ok, col], color="#9aa5b1", lw=0.8, alpha=0.7, marker="o", ms=2.5)
        if not any(r[f"{med_key}_median"] is not None for r in table.rows):
            ax.text(0.5, 0.5, f"no {label} value" + (" (all partial)" if col == "t_vasi" else ""),
                    transform=ax.transAxes, ha="center", va="center", color="#5b6775")
        xs = [r["order"] for r in table.rows if r[f"{med_key}_median"] is not None]
        med = [r[f"{med_key}_median"] for r in table.rows if r[f"{med_key}_median"] is not None]
        lo = [r[f"{med_key}_median"] - r[f"{med_key}_q1"] for r in table.rows if r[f"{med_key}_median"] is not None]
        hi = [r[f"{med_key}_q3"] - r[f"{med_key}_median"] for r in table.rows if r[f"{med_key}_median"] is not None]
        ax.errorbar(xs, med, yerr=[lo, hi], color="#1f5f8b", lw=2, marker="s", ms=5, capsize=4,
                    label="median (IQR)")
        ax.set_xticks(range(len(table.groups)), [_group_label(g, table.mode) for g in table.groups],
                      rotation=20 if len(table.groups) > 4 else 0)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", color="#e3e7ec", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
        if xs:
            ax.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    return figure_png(fig)


def trajectory_figure(pv: pd.DataFrame) -> bytes:
    """One patient's F-VASI and T-VASI per visit (partial T-VASI drawn hollow). ``pv``: typed visit rows."""
    pv = pv.sort_values("visit_index")
    fig = Figure(figsize=(6.2, 2.4))
    x = np.arange(len(pv))
    labels = list(pv["visit_id"])
    for i, (col, label, colour) in enumerate((("f_vasi", "F-VASI", "#1f5f8b"), ("t_vasi", "T-VASI", "#7a3e9d"))):
        ax = fig.add_subplot(1, 2, i + 1)
        y = pv[col].to_numpy(dtype=float)
        ax.plot(x, y, color=colour, lw=1.8, marker="o", ms=5)
        if col == "t_vasi":
            partial = pv["t_vasi_partial"].to_numpy(dtype=bool)
            if partial.any():
                ax.plot(x[partial], y[partial], ls="none", marker="o", ms=8, mfc="white", mec=colour,
                        label="partial (regions missing)")
                ax.legend(frameon=False, fontsize=7, loc="best")
        ax.set_xticks(x, labels, rotation=20 if len(labels) > 4 else 0, fontsize=8)
        ax.set_title(label, fontsize=10)
        top = np.nanmax(y) if np.isfinite(y).any() else 1.0
        ax.set_ylim(0, max(top * 1.15, 0.1))
        ax.grid(axis="y", color="#e3e7ec", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_png(fig)


def _slug(s: str) -> str:
    """An HTML id fragment: runs of characters other than letters, digits, ``_`` and ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-") or "x"


def _group_label(g: str, mode: str) -> str:
    if mode == "visit_index":
        return "baseline" if g == "0" else f"visit {g}"
    return g


# ------------------------------------------------------------------------------------------------- run folder


def _read_text_csv(path: Path) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    return df


def _region_sort_key(region: str, view: str) -> tuple:
    r = REGION_ORDER.index(region) if region in REGION_ORDER else len(REGION_ORDER)
    return (r, region, view)


def _thumbnail_src(out_dir: Path, rel: str, images: str, thumb_px: int) -> tuple[str | None, str]:
    """``(src, problem)``: the <img> src of an overlay (data URI or relative link) or None with the reason."""
    if not rel:
        return None, "no overlay written"
    p = out_dir / rel
    if not p.is_file():
        return None, f"overlay file missing: {rel}"
    if images == "link":
        return quote(Path(rel).as_posix()), ""
    try:
        rgb = resize_long_side(read_rgb(p), thumb_px)
    except ImageReadError as exc:
        return None, f"overlay unreadable: {exc}"
    return data_uri(encode_jpeg(rgb, quality=82), "image/jpeg"), ""


def quality_issues(photos: pd.DataFrame) -> pd.DataFrame:
    """Photos needing attention: status error, a facial-area problem, skin < 1 % of the frame, or an uncertain
    segmentation (``uncertain_share`` >= :data:`UNCERTAIN_SHARE_WARN`).

    ``photos``: photos.csv as text. Returns columns patient_id, visit_id, region, view, path, severity
    ("error" | "warning"), issue.
    """
    rows = []
    for d in photos.to_dict("records"):
        status = d.get("status", "")
        issues: list[tuple[str, str]] = []
        if status != "ok":
            issues.append(("error", d.get("error", "") or f"status {status!r}"))
        else:
            fas = d.get("face_area_status", "")
            if d.get("region") == "face" and fas and fas != "ok" and not fas.startswith("skin"):
                issues.append(("warning", f"facial area: {fas}"))
            try:
                skin = float(d.get("skin_px", "") or "nan")
                px = float(d.get("width", "") or "nan") * float(d.get("height", "") or "nan")
                if math.isfinite(skin) and math.isfinite(px) and px > 0 and skin / px < LOW_SKIN_FRACTION:
                    issues.append(("warning", f"little skin found ({100 * skin / px:.2f}% of the frame)"))
            except ValueError:
                pass
            try:
                unc = float(d.get("uncertain_share", "") or "nan")
            except ValueError:
                unc = float("nan")
            if math.isfinite(unc) and unc >= UNCERTAIN_SHARE_WARN:
                issues.append(("warning", f"uncertain segmentation: {100 * unc:.1f}% of the measured skin is near the "
                                          "model's decision threshold; check the overlay"))
        for sev, msg in issues:
            rows.append({"patient_id": d.get("patient_id", ""), "visit_id": d.get("visit_id", ""),
                         "region": d.get("region", ""), "view": d.get("view", ""), "path": d.get("path", ""),
                         "severity": sev, "issue": msg})
    return pd.DataFrame(rows, columns=["patient_id", "visit_id", "region", "view", "path", "severity", "issue"])


# ---------------------------------------------------------------------------------------------------- sections


def _cohort_section(table: cohort_mod.CohortTable, fig_src: str) -> str:
    head = (
        "<thead><tr><th class='l' rowspan='2'>Visit</th><th rowspan='2'>Seen<br>(of N)</th><th rowspan='2'>Lost</th>"
        "<th rowspan='2'>Partial<br>T-VASI</th>"
        "<th colspan='7'>F-VASI</th><th colspan='5'>T-VASI</th></tr>"
        "<tr><th>n</th><th>Median (IQR)</th><th>% change<br>median (IQR)</th><th>P</th>"
        "<th>F-VASI50<br>k/n (%; 95% CI)</th><th>F-VASI75</th><th>F-VASI90</th>"
        "<th>n</th><th>Median (IQR)</th><th>% change<br>median (IQR)</th><th>P</th>"
        "<th>T-VASI50<br>k/n (%; 95% CI)</th></tr></thead>"
    )
    body = []
    for r in table.rows:
        cells = [
            f"<td class='l'>{esc(_group_label(r['visit'], table.mode))}</td>",
            f"<td>{r['n_visits']} ({r['n_patients']})</td>", f"<td>{r['lost']}</td>",
            f"<td>{r['t_vasi_partial']}</td>",
        ]
        for prefix, th in (("f_vasi", cohort_mod.F_THRESHOLDS), ("t_vasi", cohort_mod.T_THRESHOLDS)):
            cells.append(f"<td>{r[f'{prefix}_n']}</td>")
            cells.append(f"<td>{fmt_median_iqr(r[f'{prefix}_median'], r[f'{prefix}_q1'], r[f'{prefix}_q3'])}</td>")
            cells.append("<td>" + fmt_median_iqr(r[f"{prefix}_change_pct_median"], r[f"{prefix}_change_pct_q1"],
                                                 r[f"{prefix}_change_pct_q3"], 1) + "</td>")
            cells.append(f"<td>{fmt_p(r[f'{prefix}_p'])}</td>")
            for t in th:
                cells.append("<td>" + fmt_rate(r[f"{prefix}{t}_k"], r[f"{prefix}{t}_n"], r[f"{prefix}{t}_ci_low"],
                                               r[f"{prefix}{t}_ci_high"]) + "</td>")
        cls = " class='base'" if r["is_baseline"] else ""
        body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    nri_rows = []
    for r in table.rows:
        if r["is_baseline"]:
            continue
        cells = [f"<td class='l'>{esc(_group_label(r['visit'], table.mode))}</td>"]
        for prefix, th in (("f_vasi", cohort_mod.F_THRESHOLDS), ("t_vasi", cohort_mod.T_THRESHOLDS)):
            for t in th:
                cells.append("<td>" + fmt_rate(r[f"{prefix}{t}_nri_k"], r[f"{prefix}{t}_nri_n"],
                                               r[f"{prefix}{t}_nri_ci_low"], r[f"{prefix}{t}_nri_ci_high"]) + "</td>")
        nri_rows.append("<tr>" + "".join(cells) + "</tr>")
    nri = (
        "<h3>Responders with non-responder imputation</h3>"
        "<p class='note'>Same responders over every patient whose baseline allows one (F-VASI &gt; 0; complete "
        "T-VASI &gt; 0): a patient lost at the visit or without a (complete) score there counts as a non-responder. "
        "k/n (%; Wilson 95 % CI).</p>"
        "<div class='scroll'><table class='data' id='nri-table'><thead><tr><th class='l'>Visit</th>"
        "<th>F-VASI50</th><th>F-VASI75</th><th>F-VASI90</th><th>T-VASI50</th></tr></thead>"
        f"<tbody>{''.join(nri_rows)}</tbody></table></div>"
    ) if nri_rows else ""
    grouping = ("visit id" if table.mode == "visit_id" else "visit number (visit ids differ between patients)")
    partial = ("included" if table.include_partial_tvasi else "excluded from T-VASI statistics")
    return (
        "<section id='cohort'><h2>Cohort table</h2>"
        f"<p class='note'>{table.n_patients} patients with a baseline visit; visits grouped by {esc(grouping)}. "
        "Observed cases: patients without the visit (lost) or without a score are left out (non-responder "
        "imputation in the second table). "
        "% change = 100 \u00d7 (visit \u2212 baseline) / baseline, negative = improvement, undefined for a baseline "
        "of 0. P: two-sided Wilcoxon signed-rank test of paired visit \u2212 baseline differences (zero differences "
        f"dropped). Responders: \u2265 50/75/90 % reduction from baseline; 95 % CI Wilson score. Partial T-VASI "
        f"(body regions not photographed): {esc(partial)}.</p>"
        f"<div class='scroll'><table class='data' id='cohort-table'>{head}<tbody>{''.join(body)}</tbody></table></div>"
        f"{nri}"
        f"<figure><img id='cohort-figure' alt='F-VASI and T-VASI per visit, all patients' src='{fig_src}'>"
        "<figcaption class='cap'>Grey: each patient. Blue: cohort median with interquartile range.</figcaption>"
        "</figure></section>"
    )


def _region_section(regions: pd.DataFrame | None, mode: str) -> str:
    """Per body region and visit: depigmented share of skin and its paired change from baseline."""
    if regions is None or regions.empty:
        return ("<section id='regions'><h2>Body regions</h2>"
                "<p class='note'>No regions.csv in the run folder.</p></section>")
    body = []
    for r in regions.to_dict("records"):
        cls = " class='base'" if r["order"] == 0 else ""
        body.append(
            f"<tr{cls}><td class='l'>{esc(r['region'])}</td><td class='l'>{esc(_group_label(r['visit'], mode))}</td>"
            f"<td>{esc(r['n'])}</td><td>{fmt_median_iqr(r['median_pct'], r['q1_pct'], r['q3_pct'], 1)}</td>"
            f"<td>{esc(r['n_paired']) if r['order'] else ''}</td>"
            f"<td>{fmt_median_iqr(r['change_pp_median'], r['change_pp_q1'], r['change_pp_q3'], 1) if r['order'] else ''}"
            f"</td><td>{fmt_p(r['p']) if r['order'] else ''}</td></tr>"
        )
    return (
        "<section id='regions'><h2>Body regions</h2>"
        "<p class='note'>Depigmented share of the skin in each region's photos (percent; facial area for the face), "
        "median (IQR) over patients; change = visit − baseline in percentage points, paired within patient, "
        "with its two-sided Wilcoxon signed-rank P. Also in cohort_regions.csv.</p>"
        "<div class='scroll'><table class='data' id='region-table'><thead><tr><th class='l'>Region</th>"
        "<th class='l'>Visit</th><th>n</th><th>Depigmented %<br>median (IQR)</th><th>Paired n</th>"
        "<th>Change, pp<br>median (IQR)</th><th>P</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


def _pro_section(table: cohort_mod.CohortTable) -> str:
    if not table.pro_columns:
        return ("<section id='pro'><h2>Patient-reported outcomes</h2>"
                "<p class='note'>No patient-reported outcome columns in visits.csv.</p></section>")
    parts = ["<section id='pro'><h2>Patient-reported outcomes</h2>",
             "<p class='note'>Values from the visits folder's visits.csv. Change = visit \u2212 baseline, paired "
             "within patient; P: two-sided Wilcoxon signed-rank test.</p>"]
    for c in table.pro_columns:
        rows = []
        for r in table.rows:
            cls = " class='base'" if r["is_baseline"] else ""
            rows.append(
                f"<tr{cls}><td class='l'>{esc(_group_label(r['visit'], table.mode))}</td><td>{r[f'{c}_n']}</td>"
                f"<td>{fmt_median_iqr(r[f'{c}_median'], r[f'{c}_q1'], r[f'{c}_q3'], 1)}</td>"
                f"<td>{esc(r[f'{c}_change_n'])}</td>"
                f"<td>{fmt_median_iqr(r[f'{c}_change_median'], r[f'{c}_change_q1'], r[f'{c}_change_q3'], 1)}</td>"
                f"<td>{fmt_p(r[f'{c}_change_p'])}</td></tr>"
            )
        parts.append(
            f"<h3>{esc(c.upper() if len(c) <= 6 else c)}</h3>"
            f"<table class='data pro' id='pro-{_slug(c)}'><thead><tr><th class='l'>Visit</th><th>n</th>"
            "<th>Median (IQR)</th><th>Paired n</th><th>Change median (IQR)</th><th>P</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def _patient_section(idx: int, patient: str, pv: pd.DataFrame, photos: pd.DataFrame | None, out_dir: Path,
                     pro_columns: list[str], images: str, thumb_px: int) -> str:
    pv = pv.sort_values("visit_index")
    base = pv.iloc[0]
    latest = pv.iloc[-1]
    parts = [f"<article class='patient' id='patient-{idx}'><h3>Patient {esc(patient)}</h3>"]
    parts.append("<div class='row'><figure><img class='trajectory' "
                 f"alt='F-VASI and T-VASI trajectory of patient {esc(patient)}' "
                 f"src='{data_uri(trajectory_figure(pv), 'image/png')}'></figure>")
    head = ("<tr><th class='l'>Visit</th><th class='l'>Date</th><th>F-VASI</th><th>% change</th><th>T-VASI</th>"
            "<th>% change</th><th class='l'>Regions not assessed</th><th>Photos (failed)</th>"
            + "".join(f"<th>{esc(c)}</th>" for c in pro_columns) + "</tr>")
    rows = []
    for d in pv.to_dict("records"):
        fc = percent_change(d["f_vasi"], float(base["f_vasi"]))
        comparable = not d["t_vasi_partial"] and not bool(base["t_vasi_partial"])
        tc = percent_change(d["t_vasi"], float(base["t_vasi"])) if comparable else float("nan")
        is_base = d["visit_index"] == base["visit_index"]
        t_txt = fmt(d["t_vasi"]) + (" <span class='warn'>(partial)</span>" if d["t_vasi_partial"] else "")
        failed = str(d.get("n_failed", "") or "")
        failed_html = f" <span class='bad'>({esc(failed)})</span>" if failed not in ("", "0") else ""
        rows.append(
            f"<tr><td class='l'>{esc(d['visit_id'])}</td><td class='l'>{esc(d.get('date', '') or DASH)}</td>"
            f"<td>{fmt(d['f_vasi'])}</td><td>{DASH if is_base else fmt(fc, 1)}</td><td>{t_txt}</td>"
            f"<td>{DASH if is_base else fmt(tc, 1)}</td>"
            f"<td class='l'>{esc((d.get('missing_regions', '') or '').replace(';', ', ') or DASH)}</td>"
            f"<td>{esc(d.get('n_photos', '') or DASH)}{failed_html}</td>"
            + "".join(f"<td>{esc(d.get(c, '') or DASH)}</td>" for c in pro_columns) + "</tr>"
        )
    parts.append(f"<table class='data visits'><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>")

    if photos is not None and len(photos):
        pp = photos[photos["patient_id"] == patient]
        b = pp[pp["visit_id"] == base["visit_id"]]
        latest_id = latest["visit_id"] if len(pv) > 1 else None
        lt = pp[pp["visit_id"] == latest_id] if latest_id is not None else pp.iloc[0:0]
        keys = sorted({(r, v) for r, v in zip(pd.concat([b, lt])["region"], pd.concat([b, lt])["view"])},
                      key=lambda k: _region_sort_key(*k))
        if keys:
            col2 = f"latest: {esc(latest_id)}" if latest_id is not None else "latest: no follow-up visit"
            parts.append("<h4>Overlays per region (baseline vs latest visit)</h4><div class='pairs'>")
            for region, view in keys:
                cells = []
                for sub in (b, lt):
                    m = sub[(sub["region"] == region) & (sub["view"] == view)]
                    cells.append(_overlay_cell(m.iloc[0] if len(m) else None, out_dir, images, thumb_px,
                                               sub is lt and latest_id is None))
                label = region.replace("_", " ") + (f" ({view})" if view else "")
                parts.append(f"<div class='pair'><div class='plabel'>{esc(label)}</div><table><tr>"
                             f"<th>baseline: {esc(base['visit_id'])}</th><th>{col2}</th></tr>"
                             f"<tr>{cells[0]}{cells[1]}</tr></table></div>")
            parts.append("</div>")
    parts.append("</article>")
    return "".join(parts)


def _overlay_cell(row: pd.Series | None, out_dir: Path, images: str, thumb_px: int, no_visit: bool) -> str:
    if row is None:
        return f"<td><div class='missing'>{'no follow-up visit' if no_visit else 'not photographed'}</div></td>"
    if row.get("status", "") != "ok":
        return (f"<td><div class='missing bad'>error: {esc(row.get('error', ''))}</div>"
                f"<div class='cap'>{esc(row.get('path', ''))}</div></td>")
    src, problem = _thumbnail_src(out_dir, row.get("overlay", ""), images, thumb_px)
    try:
        frac = f"depigmented {100 * float(row.get('fraction', '')):.1f}% of skin"
    except ValueError:
        frac = ""
    cap = f"<div class='cap'>{esc(frac)}</div>" if frac else ""
    try:
        unc = float(row.get("uncertain_share", "") or "nan")
    except ValueError:
        unc = float("nan")
    if math.isfinite(unc) and unc >= UNCERTAIN_SHARE_WARN:
        cap += f"<div class='cap bad'>uncertain: {100 * unc:.1f}% of skin near threshold</div>"
    if src is None:
        return f"<td><div class='missing'>{esc(problem)}</div>{cap}</td>"
    return (f"<td><img class='overlay' alt='overlay {esc(row.get('path', ''))}' src='{esc(src)}'>"
            f"{cap}</td>")


def _quality_section(photos: pd.DataFrame | None) -> str:
    if photos is None:
        return ("<section id='quality'><h2>Photo quality and errors</h2>"
                "<p class='note'>photos.csv not found in the run folder.</p></section>")
    issues = quality_issues(photos)
    n = len(photos)
    n_err = int((photos["status"] != "ok").sum()) if "status" in photos.columns else 0
    n_warn_photos = len(issues[issues["severity"] == "warning"]["path"].unique())
    summary = (f"{n} photos: {n - n_err} analysed, <span class='bad'>{n_err} failed</span>, "
               f"<span class='warn'>{n_warn_photos} with warnings</span>.")
    if issues.empty:
        return (f"<section id='quality'><h2>Photo quality and errors</h2><p>{summary}</p>"
                "<p class='note'>No photo needs attention.</p></section>")
    rows = "".join(
        f"<tr><td class='l'>{esc(r.patient_id)}</td><td class='l'>{esc(r.visit_id)}</td>"
        f"<td class='l'>{esc(r.region or DASH)}</td><td class='l'>{esc(r.path)}</td>"
        f"<td class='l {'bad' if r.severity == 'error' else 'warn'}'>{esc(r.severity)}</td>"
        f"<td class='l wrap'>{esc(r.issue)}</td></tr>"
        for r in issues.itertuples(index=False)
    )
    return (f"<section id='quality'><h2>Photo quality and errors</h2><p>{summary}</p>"
            "<table class='data' id='quality-table'><thead><tr><th class='l'>Patient</th><th class='l'>Visit</th>"
            "<th class='l'>Region</th><th class='l'>Photo</th><th class='l'>Severity</th><th class='l'>Issue</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></section>")


def _run_meta(run: dict[str, Any]) -> str:
    bits = []
    model = run.get("model") or {}
    if isinstance(model, dict) and (model.get("name") or model.get("sha256")):
        bits.append(f"model {esc(model.get('name', '?'))} (sha256 {esc(str(model.get('sha256', ''))[:12])})")
    ver = (run.get("versions") or {}).get("vitiseg") if isinstance(run.get("versions"), dict) else None
    if ver:
        bits.append(f"vitiseg {esc(ver)}")
    if run.get("finished"):
        bits.append(f"run finished {esc(run['finished'])}")
    counts = run.get("counts") or {}
    if isinstance(counts, dict) and "photos" in counts:
        bits.append(f"{esc(counts.get('photos'))} photos, {esc(counts.get('failed', 0))} failed")
    return " \u00b7 ".join(bits)


def _conventions_section() -> str:
    items = "".join(f"<li><b>{esc(k.replace('_', ' '))}</b>: {esc(v)}</li>"
                    for k, v in cohort_mod.CONVENTIONS.items())
    return f"<section id='conventions'><h2>Statistical conventions</h2><ul class='conv note'>{items}</ul></section>"


# ------------------------------------------------------------------------------------------------------- build


def render_html(out_dir: Path, visits: pd.DataFrame, photos: pd.DataFrame | None, run: dict[str, Any],
                table: cohort_mod.CohortTable, images: str = "embed", thumb_px: int = 320,
                regions: pd.DataFrame | None = None) -> str:
    """The report page as a string. ``visits``: typed visits table (:func:`vitiseg.cohort.prepare_visits`);
    ``regions``: :func:`vitiseg.cohort.region_table` (None: no region section data)."""
    title = f"vitiseg cohort report \u2014 {out_dir.name}"
    fig_src = data_uri(cohort_figure(visits, table), "image/png")
    patients = sorted(visits["patient_id"].unique(), key=cohort_mod._natural_key)
    nav_p = " ".join(f"<a href='#patient-{i}'>{esc(p)}</a>" for i, p in enumerate(patients))
    sections = [_cohort_section(table, fig_src), _region_section(regions, table.mode), _pro_section(table),
                "<section id='patients'><h2>Patients</h2>"
                f"<p class='note jump'>Jump to: {nav_p}</p>"]
    for i, p in enumerate(tqdm(patients, desc="report", unit="patient", disable=len(patients) < 20)):
        sections.append(_patient_section(i, p, visits[visits["patient_id"] == p], photos, out_dir,
                                         table.pro_columns, images, thumb_px))
    sections.append("</section>")
    sections.append(_quality_section(photos))
    sections.append(_conventions_section())
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = _run_meta(run)
    meta = " \u00b7 " + meta if meta else ""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta http-equiv='Content-Security-Policy' content=\"{CSP}\">"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body><main>"
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
    photos = _read_text_csv(out / "photos.csv") if (out / "photos.csv").is_file() else None
    pro = run.get("pro_columns") if isinstance(run.get("pro_columns"), list) else None
    table = cohort_mod.cohort_table(visits, pro_columns=pro, group_by=group_by,
                                    include_partial_tvasi=include_partial_tvasi)
    frame = table.to_frame()
    atomic_write_text(out / "cohort.csv", frame.to_csv(index=False, lineterminator="\n"))
    atomic_write_text(out / "cohort.json", json.dumps(table.to_json_dict(), indent=2, allow_nan=False) + "\n")
    regions = None
    if (out / "regions.csv").is_file():
        raw_regions = pd.read_csv(out / "regions.csv", dtype=str, keep_default_na=False)
        regions = cohort_mod.region_table(raw_regions, visits, table)
        atomic_write_text(out / "cohort_regions.csv", regions.to_csv(index=False, lineterminator="\n"))
    page = render_html(out, visits, photos, run, table, images=images, thumb_px=thumb_px, regions=regions)
    html_path = out / "report.html"
    atomic_write_text(html_path, page)
    log.info("report: %s (%.1f MB); cohort table: %s", html_path, len(page.encode()) / 1e6, out / "cohort.csv")
    return html_path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="run folder written by `vitiseg run` (must contain visits.csv)")
    p.add_argument("--images", choices=("embed", "link"), default="embed",
                   help="embed overlay thumbnails as base64 (default, one portable file) or link OUT/overlays/ "
                        "relatively (small page; keep it inside the run folder)")
    p.add_argument("--group-by", choices=("auto", "visit_id", "visit_index"), default="auto",
                   help="how visits are matched across patients (default: visit_id when ids are a shared schedule)")
    p.add_argument("--include-partial-tvasi", action="store_true",
                   help="keep partial T-VASI (regions not photographed) in T-VASI statistics")
    p.add_argument("--thumb-px", type=int, default=320, help="long side of embedded overlay thumbnails (px)")


def main(args: argparse.Namespace) -> int:
    try:
        path = build_report(args.out, images=args.images, group_by=args.group_by,
                            include_partial_tvasi=args.include_partial_tvasi, thumb_px=args.thumb_px)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %s", path)
    return 0
