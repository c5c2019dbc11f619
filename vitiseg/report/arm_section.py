"""The report's treatment-arm section: a compact cohort table per arm and the between-arm comparison (responder rate
differences with 95 % CI and Fisher P, % change with Mann-Whitney P). See :mod:`vitiseg.scoring.arms`."""

from __future__ import annotations

from ..scoring.arms import ArmComparison
from ..scoring.cohort_stats import F_THRESHOLDS, T_THRESHOLDS, wilson_ci
from .format import DASH, esc, fmt_median_iqr, fmt_p, fmt_rate, group_label, slug

ENDPOINT_LABEL = {"f_vasi50": "F-VASI50", "f_vasi75": "F-VASI75", "f_vasi90": "F-VASI90", "t_vasi50": "T-VASI50",
                  "f_vasi_change_pct": "F-VASI % change", "t_vasi_change_pct": "T-VASI % change"}


def _arm_table(arm: str, comp: ArmComparison) -> str:
    t = comp.tables[arm]
    rows = []
    for r in t.rows:
        cells = [f"<td class='l'>{esc(group_label(r['visit'], t.mode))}</td>",
                 f"<td>{r['n_visits']} ({r['n_patients']})</td>"]
        for prefix, th in (("f_vasi", F_THRESHOLDS), ("t_vasi", T_THRESHOLDS)):
            cells.append(f"<td>{fmt_median_iqr(r[f'{prefix}_median'], r[f'{prefix}_q1'], r[f'{prefix}_q3'])}</td>")
            cells.append("<td>" + fmt_median_iqr(r[f"{prefix}_change_pct_median"], r[f"{prefix}_change_pct_q1"],
                                                 r[f"{prefix}_change_pct_q3"], 1) + "</td>")
            for th_ in th:
                cells.append("<td>" + fmt_rate(r[f"{prefix}{th_}_k"], r[f"{prefix}{th_}_n"],
                                               r[f"{prefix}{th_}_ci_low"], r[f"{prefix}{th_}_ci_high"]) + "</td>")
        rows.append(f"<tr{' class=base' if r['is_baseline'] else ''}>" + "".join(cells) + "</tr>")
    head = ("<thead><tr><th class='l'>Visit</th><th>Seen<br>(of N)</th><th>F-VASI<br>median (IQR)</th>"
            "<th>% change</th><th>F-VASI50</th><th>F-VASI75</th><th>F-VASI90</th><th>T-VASI<br>median (IQR)</th>"
            "<th>% change</th><th>T-VASI50</th></tr></thead>")
    ref = " (reference)" if arm == comp.reference else ""
    return (f"<h3>Arm {esc(arm)}{esc(ref)}: n = {comp.n_patients[arm]}</h3>"
            f"<div class='scroll'><table class='data' id='arm-{slug(arm)}'>{head}<tbody>{''.join(rows)}</tbody>"
            "</table></div>")


def _comparison_rows(comp: ArmComparison) -> str:
    rows = []
    mode = next(iter(comp.tables.values())).mode
    for r in comp.rows:
        label = ENDPOINT_LABEL.get(r["endpoint"], r["endpoint"])
        visit = esc(group_label(r["visit"], mode))
        if r["test"] == "Fisher exact":
            arm_v = fmt_rate(r["arm_k"], r["arm_n"], *_ci(r["arm_k"], r["arm_n"]))
            ref_v = fmt_rate(r["reference_k"], r["reference_n"], *_ci(r["reference_k"], r["reference_n"]))
            diff = DASH if r["difference"] is None else (
                f"{100 * r['difference']:+.0f} pp ({100 * r['ci_low']:+.0f} to {100 * r['ci_high']:+.0f})")
        else:
            arm_v = fmt_median_iqr(r["arm_median"], r["arm_q1"], r["arm_q3"], 1) + f" (n={r['arm_n']})"
            ref_v = fmt_median_iqr(r["reference_median"], r["reference_q1"], r["reference_q3"], 1) + \
                f" (n={r['reference_n']})"
            diff = DASH if r["difference"] is None else f"{r['difference']:+.1f} (difference of medians)"
        rows.append(f"<tr><td class='l'>{visit}</td><td class='l'>{esc(label)}</td><td class='l'>{esc(r['arm'])}</td>"
                    f"<td>{arm_v}</td><td>{ref_v}</td><td>{diff}</td><td>{fmt_p(r['p'])}</td>"
                    f"<td class='l'>{esc(r['test'])}</td></tr>")
    return "".join(rows)


def _ci(k: int, n: int) -> tuple[float, float]:
    lo, hi = wilson_ci(k, n)
    return (lo or 0.0, hi or 0.0)


def arm_section(comp: ArmComparison | None) -> str:
    """The ``#arms`` section, or an empty string without at least two arms."""
    if comp is None:
        return ""
    tables = "".join(_arm_table(a, comp) for a in comp.arms)
    return (
        "<section id='arms'><h2>Treatment arms</h2>"
        f"<p class='note'>Arms from the <code>arm</code> column of visits.csv; each arm compared with "
        f"<b>{esc(comp.reference)}</b> (reference). Responders: k/n (%; Wilson 95 % CI), difference arm &minus; "
        "reference in percentage points with Newcombe's 95 % CI, two-sided Fisher exact P. % change from baseline: "
        "median (IQR), two-sided Mann-Whitney U P. Observed cases; P values are not adjusted for multiplicity.</p>"
        "<h3>Between-arm comparison</h3><div class='scroll'><table class='data' id='arm-comparison'><thead><tr>"
        "<th class='l'>Visit</th><th class='l'>Endpoint</th><th class='l'>Arm</th><th>Arm result</th>"
        "<th>Reference result</th>"
        "<th>Difference (95% CI)</th><th>P</th><th class='l'>Test</th></tr></thead>"
        f"<tbody>{_comparison_rows(comp)}</tbody></table></div>{tables}</section>"
    )
