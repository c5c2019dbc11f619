"""The sections of the report page: cohort table, body regions, patient-reported outcomes, patients, photo quality,
run details and statistical conventions. Each returns an HTML fragment; every value is escaped."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd

from ..io.images import ImageReadError, encode_jpeg, read_rgb, resize_long_side
from ..scoring import cohort_stats as cohort_mod
from ..scoring.longitudinal import percent_change
from .figures import trajectory_figure
from .format import DASH, data_uri, esc, fmt, fmt_median_iqr, fmt_p, fmt_rate, group_label, slug

REGION_ORDER = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
LOW_SKIN_FRACTION = 0.01  # photos whose skin covers < 1 % of the frame are flagged in the quality list
# photos with >= 5 % of the measured skin near the U-Net's threshold are flagged: their depigmented fraction errs far
# more often (scripts/uncertainty_calibration.py measures it; the model card states the figures)
UNCERTAIN_SHARE_WARN = 0.05

def region_sort_key(region: str, view: str) -> tuple:
    r = REGION_ORDER.index(region) if region in REGION_ORDER else len(REGION_ORDER)
    return (r, region, view)


def thumbnail_src(out_dir: Path, rel: str, images: str, thumb_px: int) -> tuple[str | None, str]:
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


def cohort_section(table: cohort_mod.CohortTable, fig_src: str) -> str:
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
            f"<td class='l'>{esc(group_label(r['visit'], table.mode))}</td>",
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
        cells = [f"<td class='l'>{esc(group_label(r['visit'], table.mode))}</td>"]
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


def region_section(regions: pd.DataFrame | None, mode: str) -> str:
    """Per body region and visit: depigmented share of skin and its paired change from baseline."""
    if regions is None or regions.empty:
        return ("<section id='regions'><h2>Body regions</h2>"
                "<p class='note'>No regions.csv in the run folder.</p></section>")
    body = []
    for r in regions.to_dict("records"):
        cls = " class='base'" if r["order"] == 0 else ""
        body.append(
            f"<tr{cls}><td class='l'>{esc(r['region'])}</td><td class='l'>{esc(group_label(r['visit'], mode))}</td>"
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


def pro_section(table: cohort_mod.CohortTable) -> str:
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
                f"<tr{cls}><td class='l'>{esc(group_label(r['visit'], table.mode))}</td><td>{r[f'{c}_n']}</td>"
                f"<td>{fmt_median_iqr(r[f'{c}_median'], r[f'{c}_q1'], r[f'{c}_q3'], 1)}</td>"
                f"<td>{esc(r[f'{c}_change_n'])}</td>"
                f"<td>{fmt_median_iqr(r[f'{c}_change_median'], r[f'{c}_change_q1'], r[f'{c}_change_q3'], 1)}</td>"
                f"<td>{fmt_p(r[f'{c}_change_p'])}</td></tr>"
            )
        parts.append(
            f"<h3>{esc(c.upper() if len(c) <= 6 else c)}</h3>"
            f"<table class='data pro' id='pro-{slug(c)}'><thead><tr><th class='l'>Visit</th><th>n</th>"
            "<th>Median (IQR)</th><th>Paired n</th><th>Change median (IQR)</th><th>P</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
    parts.append("</section>")
    return "".join(parts)


def patient_section(idx: int, patient: str, pv: pd.DataFrame, photos: pd.DataFrame | None, out_dir: Path,
                     pro_columns: list[str], images: str, thumb_px: int, extra: str = "") -> str:
    """One patient's article; ``extra``: more HTML for its end (the tracked patches)."""
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
                      key=lambda k: region_sort_key(*k))
        if keys:
            col2 = f"latest: {esc(latest_id)}" if latest_id is not None else "latest: no follow-up visit"
            parts.append("<h4>Overlays per region (baseline vs latest visit)</h4><div class='pairs'>")
            for region, view in keys:
                cells = []
                for sub in (b, lt):
                    m = sub[(sub["region"] == region) & (sub["view"] == view)]
                    cells.append(overlay_cell(m.iloc[0] if len(m) else None, out_dir, images, thumb_px,
                                               sub is lt and latest_id is None))
                label = region.replace("_", " ") + (f" ({view})" if view else "")
                parts.append(f"<div class='pair'><div class='plabel'>{esc(label)}</div><table><tr>"
                             f"<th>baseline: {esc(base['visit_id'])}</th><th>{col2}</th></tr>"
                             f"<tr>{cells[0]}{cells[1]}</tr></table></div>")
            parts.append("</div>")
    parts.append(extra)
    parts.append("</article>")
    return "".join(parts)


def overlay_cell(row: pd.Series | None, out_dir: Path, images: str, thumb_px: int, no_visit: bool) -> str:
    if row is None:
        return f"<td><div class='missing'>{'no follow-up visit' if no_visit else 'not photographed'}</div></td>"
    if row.get("status", "") != "ok":
        return (f"<td><div class='missing bad'>error: {esc(row.get('error', ''))}</div>"
                f"<div class='cap'>{esc(row.get('path', ''))}</div></td>")
    src, problem = thumbnail_src(out_dir, row.get("overlay", ""), images, thumb_px)
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
    full = quote(Path(row.get("overlay", "")).as_posix())  # the full-size overlay file, relative to the page
    return (f"<td><a href='{esc(full)}' title='full-size overlay'><img class='overlay' "
            f"alt='overlay {esc(row.get('path', ''))}' src='{esc(src)}'></a>{cap}</td>")


def quality_section(photos: pd.DataFrame | None) -> str:
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


def run_meta(run: dict[str, Any]) -> str:
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


def conventions_section() -> str:
    items = "".join(f"<li><b>{esc(k.replace('_', ' '))}</b>: {esc(v)}</li>"
                    for k, v in cohort_mod.CONVENTIONS.items())
    return f"<section id='conventions'><h2>Statistical conventions</h2><ul class='conv note'>{items}</ul></section>"
