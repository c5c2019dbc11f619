"""The lines ``vitiseg run`` ends with: photos measured and failed, the cohort's median F-VASI / T-VASI per visit,
responder rates at the last visit, and where the report and tables are. Numbers come from the same cohort table as
the report (:func:`vitiseg.scoring.cohort_stats.cohort_table`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..report.format import DASH, fmt, group_label
from ..scoring.cohort_stats import cohort_table


def _medians(table: Any, score: str) -> str:
    return ", ".join(f"{group_label(r['visit'], table.mode)} {fmt(r[f'{score}_median'])}" for r in table.rows)


def _rate(row: dict[str, Any], key: str) -> str:
    n = row.get(f"{key}_n")
    if not n:
        return f"{key.upper().replace('_', '-')} {DASH}"
    k = row[f"{key}_k"]
    return f"{key.upper().replace('_', '-')} {k}/{n} ({100 * k / n:.0f} %)"


def closing_summary(visits: pd.DataFrame, summary: dict[str, Any]) -> list[str]:
    """Lines for the console. ``visits``: the run's visits table; ``summary``: the run summary (``counts``,
    ``out_dir``, ``report`` or ``report_error``)."""
    c = summary["counts"]
    out = Path(summary["out_dir"])
    lines = [f"{c['patients']} patients, {c['visits']} visits, {c['photos']} photos: {c['ok']} measured, "
             f"{c['failed']} failed" + (f", {c['reused']} reused from an earlier run" if c.get("reused") else "")]
    if len(visits) and visits["visit_index"].eq(0).any():
        table = cohort_table(visits)
        partial = sum(r["t_vasi_partial"] for r in table.rows)
        lines.append(f"median F-VASI per visit: {_medians(table, 'f_vasi')}")
        if partial and all(r["t_vasi_median"] is None for r in table.rows):
            lines.append(f"median T-VASI: not reported, all {partial} visits are partial (regions not "
                         "photographed; vitiseg report --include-partial-tvasi shows them as lower bounds)")
        else:
            lines.append(f"median T-VASI per visit: {_medians(table, 't_vasi')}"
                         + (f" ({partial} partial visit(s) left out: regions not photographed)" if partial else ""))
        if len(table.rows) > 1:
            last = table.rows[-1]
            rates = ", ".join(_rate(last, k) for k in ("f_vasi50", "f_vasi75", "f_vasi90", "t_vasi50"))
            lines.append(f"responders at {group_label(last['visit'], table.mode)}: {rates}")
    if summary.get("report"):
        lines.append(f"report: {summary['report']}")
    elif summary.get("report_error"):
        lines.append(f"report failed ({summary['report_error']}); the tables are written")
    lines.append(f"tables: {out / 'visits.csv'}, {out / 'longitudinal.csv'}, {out / 'photos.csv'}")
    return lines
