"""Treatment arms: the per-arm cohort tables and the between-arm comparison a trial reports.

A patient's arm is the ``arm`` column of the input ``visits.csv`` (carried into the run's ``visits.csv``): the first
non-empty value of the patient's rows (a patient with two different values is warned about and kept in the first).
Patients without an arm are left out of the arm tables. With fewer than two arms there is no comparison.

Conventions (also in ``cohort.json["arms"]["conventions"]``):

* **Per-arm tables**: :func:`vitiseg.scoring.cohort_stats.cohort_table` on each arm's patients, with the visit grouping
  of the whole cohort (observed cases; same rules as the cohort table).
* **Reference arm**: the arm named ``vehicle``, ``placebo`` or ``control`` (case-insensitive) when exactly one is,
  else the first in natural sort order. Every other arm is compared with it at every follow-up visit group.
* **Responders** (F-VASI50/75/90, T-VASI50; the cohort table's denominators: baseline > 0 and a value at the visit,
  complete T-VASI unless ``include_partial_tvasi``): rate difference arm - reference with Newcombe's hybrid score 95 %
  interval (method 10 of Newcombe, *Stat Med* 1998;17:873, built from the two Wilson intervals) and the two-sided
  Fisher exact P of the 2 x 2 table (``scipy.stats.fisher_exact``).
* **% change from baseline** (F-VASI, T-VASI): median (IQR) per arm and the two-sided Mann-Whitney U P
  (``scipy.stats.mannwhitneyu``, ``method="auto"``) of the per-patient values.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..io.layout import natural_key
from .cohort_stats import (F_THRESHOLDS, T_THRESHOLDS, CohortTable, cohort_table, photographed,
                           prepare_visits, summarise, wilson_ci)

log = logging.getLogger(__name__)

ARM_COLUMN = "arm"
REFERENCE_NAMES = re.compile(r"vehicle|placebo|control", re.IGNORECASE)
ENDPOINTS = tuple(f"f_vasi{t}" for t in F_THRESHOLDS) + tuple(f"t_vasi{t}" for t in T_THRESHOLDS)
COMPARISON_COLUMNS = [
    "visit", "order", "endpoint", "arm", "reference_arm", "arm_k", "arm_n", "arm_rate", "reference_k", "reference_n",
    "reference_rate", "difference", "ci_low", "ci_high", "arm_median", "arm_q1", "arm_q3", "reference_median",
    "reference_q1", "reference_q3", "test", "p",
]
CONVENTIONS = {
    "arm": "first non-empty 'arm' value of the patient's visits.csv rows; patients without one are left out",
    "per_arm_tables": "the cohort table on each arm's patients, visit grouping of the whole cohort",
    "reference_arm": "the arm named vehicle/placebo/control when exactly one is, else the first in natural order",
    "responders": "rate difference arm - reference, 95% CI Newcombe hybrid score (method 10, from Wilson intervals); "
                  "two-sided Fisher exact P (scipy.stats.fisher_exact)",
    "change_pct": "median (IQR) per arm; two-sided Mann-Whitney U P (scipy.stats.mannwhitneyu, method='auto')",
}


def patient_arms(visits: pd.DataFrame) -> pd.Series:
    """``patient_id -> arm`` (str) for every patient with a non-empty ``arm``; empty when the column is absent."""
    if ARM_COLUMN not in visits.columns:
        return pd.Series(dtype=str)
    v = visits[["patient_id", ARM_COLUMN]].astype(str)
    v = v[v[ARM_COLUMN].str.strip().ne("") & v[ARM_COLUMN].ne("nan")]
    arms = v.groupby("patient_id", sort=False)[ARM_COLUMN].agg(lambda s: list(dict.fromkeys(s.str.strip())))
    mixed = [p for p, a in arms.items() if len(a) > 1]
    if mixed:
        log.warning("patient(s) %s have more than one arm in visits.csv; the first is used", mixed[:5])
    return arms.map(lambda a: a[0])


def reference_arm(arms: list[str]) -> str:
    """The arm the others are compared with (module conventions)."""
    named = [a for a in arms if REFERENCE_NAMES.search(a)]
    return named[0] if len(named) == 1 else sorted(arms, key=natural_key)[0]


def newcombe_ci(k1: int, n1: int, k2: int, n2: int) -> tuple[float | None, float | None]:
    """95 % interval of ``k1/n1 - k2/n2``: Newcombe's hybrid score interval from the two Wilson intervals;
    (None, None) when either n is 0."""
    if n1 <= 0 or n2 <= 0:
        return None, None
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_ci(k1, n1)
    l2, u2 = wilson_ci(k2, n2)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float | None:
    """Two-sided Fisher exact P of responders k/n in two groups; None when either n is 0."""
    if n1 <= 0 or n2 <= 0:
        return None
    return float(stats.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]], alternative="two-sided").pvalue)


def mann_whitney_p(a: np.ndarray, b: np.ndarray) -> float | None:
    """Two-sided Mann-Whitney U P of two samples (finite values); None when either is empty or all values tie."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if not a.size or not b.size or np.unique(np.concatenate([a, b])).size < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return float(stats.mannwhitneyu(a, b, alternative="two-sided", method="auto").pvalue)


def percent_changes(visits: pd.DataFrame, table: CohortTable) -> pd.DataFrame:
    """Per patient and follow-up visit group: ``patient_id, visit, f_vasi_change_pct, t_vasi_change_pct`` (NaN where
    undefined), with the cohort table's rules (baseline > 0; partial T-VASI left out unless the table includes it;
    visits without photos left out)."""
    df = prepare_visits(visits)
    df = df[photographed(df)]
    df = df.assign(_group=(df["visit_id"] if table.mode == "visit_id" else df["visit_index"].astype(str)).values)
    df["_t"] = df["t_vasi"] if table.include_partial_tvasi else df["t_vasi"].where(~df["t_vasi_partial"])
    base = df[df["visit_index"] == 0].set_index("patient_id")
    cur = df[df["visit_index"] > 0].drop_duplicates(["patient_id", "_group"])
    out = pd.DataFrame({"patient_id": cur["patient_id"].values, "visit": cur["_group"].values})
    for score, col in (("f_vasi", "f_vasi"), ("t_vasi", "_t")):
        b = cur["patient_id"].map(base[col]).to_numpy(dtype=float)
        v = cur[col].to_numpy(dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{score}_change_pct"] = np.where(b > 0, 100.0 * (v - b) / b, np.nan)
    return out


@dataclass
class ArmComparison:
    """Per-arm cohort tables and the between-arm rows (``COMPARISON_COLUMNS``)."""

    arms: list[str]
    reference: str
    n_patients: dict[str, int]
    tables: dict[str, CohortTable]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """The between-arm rows; counts as nullable integers (empty where they do not apply)."""
        df = pd.DataFrame(self.rows, columns=COMPARISON_COLUMNS)
        for c in ("order", "arm_k", "arm_n", "reference_k", "reference_n"):
            df[c] = pd.array([None if v is None or v != v else int(v) for v in df[c]], dtype="Int64")
        return df

    def tables_frame(self) -> pd.DataFrame:
        """The per-arm cohort tables stacked, with an ``arm`` column first."""
        df = pd.concat([t.to_frame().assign(arm=a) for a, t in self.tables.items()], ignore_index=True)
        return df[["arm"] + [c for c in df.columns if c != "arm"]]


def _responder_row(visit: str, order: int, endpoint: str, arm: str, ref: str, a: dict, r: dict) -> dict[str, Any]:
    k1, n1, k2, n2 = a.get(f"{endpoint}_k") or 0, a.get(f"{endpoint}_n") or 0, r.get(f"{endpoint}_k") or 0, \
        r.get(f"{endpoint}_n") or 0
    lo, hi = newcombe_ci(k1, n1, k2, n2)
    return {"visit": visit, "order": order, "endpoint": endpoint, "arm": arm, "reference_arm": ref,
            "arm_k": k1, "arm_n": n1, "arm_rate": k1 / n1 if n1 else None, "reference_k": k2, "reference_n": n2,
            "reference_rate": k2 / n2 if n2 else None, "difference": (k1 / n1 - k2 / n2) if n1 and n2 else None,
            "ci_low": lo, "ci_high": hi, "test": "Fisher exact", "p": fisher_p(k1, n1, k2, n2)}


def _change_row(visit: str, order: int, score: str, arm: str, ref: str, a: np.ndarray, r: np.ndarray
                ) -> dict[str, Any]:
    sa, sr = summarise(a), summarise(r)
    return {"visit": visit, "order": order, "endpoint": f"{score}_change_pct", "arm": arm, "reference_arm": ref,
            "arm_n": sa["n"], "arm_median": sa["median"], "arm_q1": sa["q1"], "arm_q3": sa["q3"],
            "reference_n": sr["n"], "reference_median": sr["median"], "reference_q1": sr["q1"],
            "reference_q3": sr["q3"], "difference": (sa["median"] - sr["median"]) if sa["n"] and sr["n"] else None,
            "test": "Mann-Whitney U", "p": mann_whitney_p(a, r)}


def compare_arms(visits: pd.DataFrame, table: CohortTable) -> ArmComparison | None:
    """Per-arm tables and between-arm comparison of a run's visits table (module conventions); None without at least
    two arms. ``table``: the whole cohort's :func:`cohort_table` (its grouping and partial-T-VASI rule are reused)."""
    arm_of = patient_arms(visits)
    arms = sorted(set(arm_of), key=natural_key)
    if len(arms) < 2:
        return None
    ref = reference_arm(arms)
    arms = [ref] + [a for a in arms if a != ref]
    df = prepare_visits(visits)
    mode: Any = table.mode
    tables = {a: cohort_table(df[df["patient_id"].map(arm_of).eq(a)], pro_columns=[], group_by=mode,
                              include_partial_tvasi=table.include_partial_tvasi) for a in arms}
    comp = ArmComparison(arms, ref, {a: t.n_patients for a, t in tables.items()}, tables)
    pct = percent_changes(df, table)
    pct["arm"] = pct["patient_id"].map(arm_of)
    for order, g in enumerate(table.groups):
        if order == 0:
            continue
        by_arm = {a: next((r for r in t.rows if r["visit"] == g), {}) for a, t in tables.items()}
        for arm in arms[1:]:
            for ep in ENDPOINTS:
                comp.rows.append(_responder_row(g, order, ep, arm, ref, by_arm[arm], by_arm[ref]))
            for score in ("f_vasi", "t_vasi"):
                col = f"{score}_change_pct"
                sel = pct[pct["visit"] == g]
                comp.rows.append(_change_row(g, order, score, arm, ref, sel[sel["arm"] == arm][col].to_numpy(float),
                                             sel[sel["arm"] == ref][col].to_numpy(float)))
    return comp
