"""Cohort statistics of a run: the per-visit study table (VASI, change from baseline, responders, PROs).

Pure functions on the run folder's ``visits.csv`` table (one row per patient visit: ``patient_id``, ``visit_id``,
``visit_index``, ``f_vasi``, ``t_vasi``, ``t_vasi_partial`` and any patient-reported-outcome columns). No I/O here
except :func:`load_visits_table`; :mod:`vitiseg.report` writes the results.

Conventions (also written into ``cohort.json`` under ``"conventions"``):

* **Baseline** is each patient's ``visit_index == 0`` row. The *cohort* is every patient with a baseline row.
* **Which visits are compared.** Each follow-up visit group is compared with baseline, paired within patient.
  Visit groups are formed by ``visit_id`` when the ids are a shared schedule (``group_by="auto"``: every patient's
  baseline has the same ``visit_id`` and no two patients see two visit ids in opposite order, e.g. ``baseline``,
  ``week12``, ``week24``); otherwise (e.g. visit ids are dates) by ``visit_index`` (0 = baseline, 1 = first
  follow-up, ...). ``group_by`` may force either. Groups are ordered by the patients' visit order.
* **Lost**: cohort patients with no row for the visit group (missed or not yet done), or whose row has no photo
  (``n_photos`` 0: listed in the input ``visits.csv`` only). **Missing value**: a row exists but the score is empty
  (e.g. every face photo failed). Both are left out of that visit's statistics:
  all numbers are *observed cases*, never imputed; ``lost`` is reported beside them.
* **Partial T-VASI** (``t_vasi_partial`` True: not every body region photographed) is counted in the ``partial``
  column and, by default, left out of every T-VASI statistic at that visit, and a partial baseline T-VASI leaves the
  patient out of all T-VASI change statistics (``include_partial_tvasi=True`` keeps them).
* **Percent change** = ``100 * (visit - baseline) / baseline`` (negative = improvement); undefined when the baseline
  score is 0, so those patients are left out of % change and responder rates (they still enter the paired test).
* **Responders**: F-VASI50/75/90, T-VASI50 = at least 50/75/90/50 % reduction from baseline, i.e.
  ``change_pct <= -threshold + 1e-9`` (tolerance for float rounding at exact thresholds; the same rule as
  :func:`vitiseg.scoring.longitudinal.responder`, so the rates count longitudinal.csv's flags).
  Denominator: patients with baseline > 0 and a value at the visit. 95 % CI: Wilson score interval
  (``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, no continuity correction); empty when n = 0.
* **Responders with non-responder imputation** (``<score><t>_nri_*`` columns, the usual trial convention for
  missing data): the same responders, over every cohort patient with a baseline score > 0 (for T-VASI: a complete
  baseline); a patient lost at the visit, or without a (complete) score there, counts as a non-responder.
* **Median (IQR)**: ``numpy.percentile`` with linear interpolation (Hyndman-Fan type 7) at 25/50/75.
* **Paired test**: two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``) on the paired differences
  ``visit - baseline`` of every patient with both values. ``zero_method="wilcox"`` (zero differences are dropped,
  scipy's default), ``method="auto"`` (exact distribution for small samples without ties, normal approximation with
  tie correction otherwise). P is empty when fewer than 2 patients are paired or every difference is zero.
* **PROs** (e.g. VNS, DLQI, VitiQoL, TAS-20): numeric columns of visits.csv; per visit n, median (IQR) of the
  value, and median (IQR) of the paired change ``visit - baseline`` with its Wilcoxon P (same rules). Non-numeric
  cells are treated as missing; a column with no numeric cell is not summarised.
"""

from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from ..io.layout import natural_key

log = logging.getLogger(__name__)

GroupBy = Literal["auto", "visit_id", "visit_index"]

CORE_COLUMNS = (
    "patient_id", "visit_id", "visit_index", "date", "f_vasi", "t_vasi", "t_vasi_partial", "missing_regions",
    "n_photos", "n_failed", "arm",
)
F_THRESHOLDS = (50, 75, 90)
T_THRESHOLDS = (50,)
RESPONDER_TOL = 1e-9

CONVENTIONS: dict[str, str] = {
    "baseline": "each patient's visit_index 0; cohort = patients with a baseline row",
    "visit_groups": "by visit_id when ids form a shared schedule (same baseline id, consistent order), "
                    "else by visit_index; each follow-up group is compared with baseline within patient",
    "lost": "cohort patients without a row for the visit group, or whose row has no photo; excluded (observed "
            "cases, no imputation)",
    "partial_t_vasi": "counted in 'partial'; excluded from T-VASI statistics unless include_partial_tvasi",
    "change_pct": "100*(visit-baseline)/baseline, negative = improvement; undefined (excluded) when baseline is 0",
    "responders": "change_pct <= -threshold (+1e-9 rounding tolerance); denominator = baseline > 0 with a value at "
                  "the visit; 95% CI Wilson score (scipy binomtest proportion_ci method='wilson')",
    "responders_nri": "non-responder imputation: same responders over every cohort patient with baseline > 0 "
                      "(T-VASI: complete baseline); lost or missing at the visit = non-responder; Wilson 95% CI",
    "median_iqr": "numpy.percentile linear interpolation (type 7) at 25/50/75",
    "paired_test": "two-sided Wilcoxon signed-rank on visit-baseline differences (scipy.stats.wilcoxon, "
                   "zero_method='wilcox' drops zero differences, method='auto'); empty when fewer than 2 pairs "
                   "or all differences are zero",
    "pro": "numeric visits.csv columns; median (IQR) per visit and paired change visit-baseline with Wilcoxon P",
}


# ----------------------------------------------------------------------------------------------------- primitives


def summarise(values: Any) -> dict[str, float | int | None]:
    """``{"n", "median", "q1", "q3"}`` of the finite values in ``values`` (None for the statistics when n = 0)."""
    a = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=np.float64)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"n": 0, "median": None, "q1": None, "q3": None}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"n": int(a.size), "median": float(med), "q1": float(q1), "q3": float(q3)}


def wilcoxon_p(differences: Any) -> float | None:
    """Two-sided Wilcoxon signed-rank P of paired differences (1-D, finite floats; NaNs dropped).

    None when fewer than 2 differences or all are zero (see module conventions); otherwise
    ``scipy.stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue``.
    """
    d = np.asarray(differences, dtype=np.float64)
    d = d[np.isfinite(d)]
    if d.size < 2 or not np.any(d != 0):
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        res = stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided")
    p = float(res.pvalue)
    return p if math.isfinite(p) else None


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a binomial proportion k/n (no continuity correction); (None, None) when n = 0."""
    if n <= 0:
        return None, None
    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def responder_rate(k: int, n: int) -> dict[str, float | int | None]:
    """``{"k", "n", "rate", "ci_low", "ci_high"}`` with a Wilson 95 % CI; rate and CI None when n = 0."""
    lo, hi = wilson_ci(k, n)
    return {"k": int(k), "n": int(n), "rate": (k / n) if n else None, "ci_low": lo, "ci_high": hi}


def _to_bool(v: Any) -> bool:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    return str(v).strip().lower() in ("true", "1", "yes")


def prepare_visits(visits: pd.DataFrame) -> pd.DataFrame:
    """Typed copy of a visits table: ids as str, ``visit_index`` int, scores float (NaN when empty),
    ``t_vasi_partial`` bool. Requires ``patient_id``, ``visit_id``, ``visit_index``; ``f_vasi``/``t_vasi`` default
    to NaN and ``t_vasi_partial`` to False when absent."""
    missing = [c for c in ("patient_id", "visit_id", "visit_index") if c not in visits.columns]
    if missing:
        raise ValueError(f"visits table is missing column(s) {missing}; has {list(visits.columns)}")
    df = visits.copy()
    df["patient_id"] = df["patient_id"].astype(str)
    df["visit_id"] = df["visit_id"].astype(str)
    df["visit_index"] = pd.to_numeric(df["visit_index"], errors="raise").astype(int)
    for c in ("f_vasi", "t_vasi"):
        df[c] = pd.to_numeric(df[c], errors="coerce").astype(float) if c in df.columns else np.nan
    df["t_vasi_partial"] = df["t_vasi_partial"].map(_to_bool) if "t_vasi_partial" in df.columns else False
    if df.duplicated(["patient_id", "visit_id"]).any():
        dup = df[df.duplicated(["patient_id", "visit_id"], keep=False)][["patient_id", "visit_id"]]
        raise ValueError(f"duplicate (patient_id, visit_id) rows: {dup.drop_duplicates().values.tolist()[:5]}")
    return df


def load_visits_table(path: str | Path) -> pd.DataFrame:
    """Read a run folder's ``visits.csv`` (all cells as text, empty cells kept empty) and type it."""
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    return prepare_visits(raw)


def choose_grouping(visits: pd.DataFrame, group_by: GroupBy = "auto") -> tuple[str, list[str]]:
    """Decide how visits are grouped across patients and the group order.

    Returns ``(mode, groups)``: mode ``"visit_id"`` or ``"visit_index"``; groups are visit ids, or the indices as
    strings, baseline first. ``auto`` uses visit_id when all patients share the baseline id and no pair of ids occurs
    in opposite orders in two patients (a shared schedule), else visit_index.
    """
    if group_by not in ("auto", "visit_id", "visit_index"):
        raise ValueError(f"group_by must be auto, visit_id or visit_index, not {group_by!r}")
    df = visits.sort_values(["patient_id", "visit_index"])
    seqs = [list(g["visit_id"]) for _, g in df.groupby("patient_id", sort=True)]
    base_ids = {s[0] for s in seqs if s}
    before: set[tuple[str, str]] = set()
    for s in seqs:
        for i, a in enumerate(s):
            for b in s[i + 1:]:
                before.add((a, b))
    consistent = not any((b, a) in before for a, b in before)
    mode = group_by
    if group_by == "auto":
        mode = "visit_id" if (len(base_ids) <= 1 and consistent) else "visit_index"
    if mode == "visit_index":
        return mode, [str(i) for i in sorted(df["visit_index"].unique())]
    if not consistent:
        log.warning("visit ids occur in different orders across patients; grouping by visit_id anyway")
    # Kahn's topological sort of the "a before b" relation; ties by mean visit_index then natural order.
    ids = list(dict.fromkeys(df["visit_id"]))
    mean_idx = df.groupby("visit_id")["visit_index"].mean().to_dict()
    preds = {v: {a for a, b in before if b == v and (v, a) not in before} for v in ids}
    order: list[str] = []
    remaining = set(ids)
    while remaining:
        ready = [v for v in remaining if not (preds[v] & remaining)] or list(remaining)
        nxt = min(ready, key=lambda v: (mean_idx[v], natural_key(v)))
        order.append(nxt)
        remaining.discard(nxt)
    base = df[df["visit_index"] == 0]["visit_id"]
    if len(base) and order[0] != base.iloc[0]:
        order.remove(base.iloc[0])
        order.insert(0, base.iloc[0])
    return mode, order


def photographed(visits: pd.DataFrame) -> pd.Series:
    """Bool per row: the visit has at least one photo (``n_photos`` > 0; True where the column is absent or empty,
    as in visits tables written before it existed)."""
    if "n_photos" not in visits.columns:
        return pd.Series(True, index=visits.index)
    n = pd.to_numeric(visits["n_photos"].replace("", np.nan), errors="coerce")
    return n.isna() | (n > 0)


def numeric_pro_columns(visits: pd.DataFrame, pro_columns: list[str] | None = None) -> list[str]:
    """PRO columns to summarise: ``pro_columns`` if given (those present), else every non-core column; only columns
    with at least one numeric cell are kept."""
    cands = [c for c in (pro_columns if pro_columns is not None else visits.columns)
             if c in visits.columns and c not in CORE_COLUMNS and not str(c).startswith("_")]
    out = []
    for c in cands:
        vals = pd.to_numeric(visits[c].replace("", np.nan), errors="coerce")
        if vals.notna().any():
            out.append(c)
        else:
            log.info("column %r has no numeric value; not summarised as a patient-reported outcome", c)
    return out


@dataclass
class CohortTable:
    """Result of :func:`cohort_table`. ``rows``: one flat dict per visit group (the columns of cohort.csv)."""

    mode: str
    groups: list[str]
    n_patients: int
    pro_columns: list[str]
    include_partial_tvasi: bool
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_frame(self) -> pd.DataFrame:
        """Rows as a DataFrame; counts as nullable integers (empty where undefined), statistics as float."""
        df = pd.DataFrame(self.rows)
        for c in df.columns:
            if c.endswith(("_n", "_k", "_n_paired")) or c in ("n_patients", "n_visits", "lost", "t_vasi_partial",
                                                            "f_vasi_missing", "order"):
                df[c] = pd.array([None if v is None or v != v else int(v) for v in df[c]], dtype="Int64")
            elif c not in ("visit", "is_baseline"):
                df[c] = pd.to_numeric(df[c], errors="coerce").astype(float)
        return df

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "group_by": self.mode,
            "n_patients": self.n_patients,
            "visits": self.groups,
            "pro_columns": self.pro_columns,
            "include_partial_tvasi": self.include_partial_tvasi,
            "conventions": CONVENTIONS,
            "rows": [{k: _json_value(v) for k, v in r.items()} for r in self.rows],
        }


def _json_value(v: Any) -> Any:
    if isinstance(v, (np.floating, float)):
        return float(v) if math.isfinite(float(v)) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _score_block(prefix: str, base: pd.Series, cur: pd.Series, thresholds: tuple[int, ...]) -> dict[str, Any]:
    """Statistics of one score at one visit. ``base``/``cur``: float Series indexed by patient_id (NaN = missing)."""
    row: dict[str, Any] = {}
    s = summarise(cur.values)
    row.update({f"{prefix}_n": s["n"], f"{prefix}_median": s["median"], f"{prefix}_q1": s["q1"],
                f"{prefix}_q3": s["q3"]})
    paired = pd.concat([base.rename("b"), cur.rename("v")], axis=1, join="inner").dropna()
    diff = paired["v"] - paired["b"]
    ds = summarise(diff.values)
    row[f"{prefix}_n_paired"] = int(len(paired))
    row[f"{prefix}_change_median"] = ds["median"]
    pos = paired[paired["b"] > 0]
    pct = 100.0 * (pos["v"] - pos["b"]) / pos["b"]
    ps = summarise(pct.values)
    row.update({f"{prefix}_change_pct_n": ps["n"], f"{prefix}_change_pct_median": ps["median"],
                f"{prefix}_change_pct_q1": ps["q1"], f"{prefix}_change_pct_q3": ps["q3"]})
    row[f"{prefix}_p"] = wilcoxon_p(diff.values)
    n_eligible = int((base.dropna() > 0).sum())  # every cohort patient whose baseline allows a responder
    for t in thresholds:
        k_resp = int((pct <= -t + RESPONDER_TOL).sum())
        for k, v in responder_rate(k_resp, int(len(pos))).items():
            row[f"{prefix}{t}_{k}"] = v
        for k, v in responder_rate(k_resp, n_eligible).items():
            row[f"{prefix}{t}_nri_{k}"] = v
    return row


def _empty_change(prefix: str, thresholds: tuple[int, ...]) -> dict[str, Any]:
    row: dict[str, Any] = {f"{prefix}_n_paired": None, f"{prefix}_change_median": None,
                           f"{prefix}_change_pct_n": None, f"{prefix}_change_pct_median": None,
                           f"{prefix}_change_pct_q1": None, f"{prefix}_change_pct_q3": None, f"{prefix}_p": None}
    for t in thresholds:
        for k in ("k", "n", "rate", "ci_low", "ci_high"):
            row[f"{prefix}{t}_{k}"] = None
        for k in ("k", "n", "rate", "ci_low", "ci_high"):
            row[f"{prefix}{t}_nri_{k}"] = None
    return row


def cohort_table(
    visits: pd.DataFrame,
    pro_columns: list[str] | None = None,
    group_by: GroupBy = "auto",
    include_partial_tvasi: bool = False,
) -> CohortTable:
    """The per-visit cohort table of a visits table (see module docstring for every convention).

    ``visits``: a run folder's visits.csv as a DataFrame (typed or raw text; it is typed here).
    ``pro_columns``: PRO columns to summarise (default: every numeric non-core column).
    """
    df = prepare_visits(visits)
    mode, groups = choose_grouping(df, group_by)
    pros = numeric_pro_columns(df, pro_columns)
    key = df["visit_id"] if mode == "visit_id" else df["visit_index"].astype(str)
    df = df.assign(_group=key.values)
    for c in pros:
        df[c] = pd.to_numeric(df[c].replace("", np.nan), errors="coerce").astype(float)

    baseline = df[df["visit_index"] == 0].set_index("patient_id")
    cohort = list(baseline.index)
    t_ok = pd.Series(True, index=df.index) if include_partial_tvasi else ~df["t_vasi_partial"]
    df["_t"] = df["t_vasi"].where(t_ok)
    base_f = baseline["f_vasi"]
    base_t = df[df["visit_index"] == 0].set_index("patient_id")["_t"]
    base_pro = {c: baseline[c] for c in pros}

    table = CohortTable(mode, groups, len(cohort), pros, include_partial_tvasi)
    for order, g in enumerate(groups):
        cur = df[df["_group"] == g]
        cur = cur[cur["patient_id"].isin(cohort)].set_index("patient_id")
        if cur.index.duplicated().any():
            dup = sorted(set(cur.index[cur.index.duplicated()]))
            log.warning("visit group %s has several rows for patient(s) %s; keeping the first", g, dup[:5])
            cur = cur[~cur.index.duplicated()]
        seen = int(photographed(cur).sum())
        row: dict[str, Any] = {
            "visit": g,
            "order": order,
            "is_baseline": order == 0,
            "n_patients": len(cohort),
            "n_visits": seen,
            "lost": int(len(cohort) - seen),
            "t_vasi_partial": int(cur["t_vasi_partial"].sum()),
            "f_vasi_missing": int(cur["f_vasi"].isna().sum()),
        }
        if order == 0:
            for prefix, col, th in (("f_vasi", "f_vasi", F_THRESHOLDS), ("t_vasi", "_t", T_THRESHOLDS)):
                s = summarise(cur[col].values)
                row.update({f"{prefix}_n": s["n"], f"{prefix}_median": s["median"], f"{prefix}_q1": s["q1"],
                            f"{prefix}_q3": s["q3"]})
                row.update(_empty_change(prefix, th))
        else:
            row.update(_score_block("f_vasi", base_f, cur["f_vasi"], F_THRESHOLDS))
            row.update(_score_block("t_vasi", base_t, cur["_t"], T_THRESHOLDS))
        for c in pros:
            s = summarise(cur[c].values)
            row.update({f"{c}_n": s["n"], f"{c}_median": s["median"], f"{c}_q1": s["q1"], f"{c}_q3": s["q3"]})
            if order == 0:
                row.update({f"{c}_change_n": None, f"{c}_change_median": None, f"{c}_change_q1": None,
                            f"{c}_change_q3": None, f"{c}_change_p": None})
            else:
                paired = pd.concat([base_pro[c].rename("b"), cur[c].rename("v")], axis=1, join="inner").dropna()
                d = (paired["v"] - paired["b"]).values
                ds = summarise(d)
                row.update({f"{c}_change_n": ds["n"], f"{c}_change_median": ds["median"],
                            f"{c}_change_q1": ds["q1"], f"{c}_change_q3": ds["q3"], f"{c}_change_p": wilcoxon_p(d)})
        table.rows.append(row)
    return table


REGION_COLUMNS = ["region", "visit", "order", "n", "median_pct", "q1_pct", "q3_pct", "n_paired", "change_pp_median",
                  "change_pp_q1", "change_pp_q3", "p"]


def region_table(regions: pd.DataFrame, visits: pd.DataFrame, table: CohortTable) -> pd.DataFrame:
    """Depigmented share of skin per body region and visit group (``OUT/cohort_regions.csv``).

    ``regions``: a run folder's regions.csv (``patient_id``, ``visit_id``, ``region``, ``fraction`` in [0, 1],
    ``assessed``); only assessed regions count. ``visits``: its visits.csv (for ``visit_index``); ``table``: the
    :func:`cohort_table` of the same run, whose visit grouping is reused. Per region and visit: n, median (IQR) of
    the depigmented share in percent, and for follow-up visits the paired change from the patient's baseline in
    percentage points (median, IQR) with its two-sided Wilcoxon signed-rank P (same rules as the cohort table).
    Regions are listed in the order they first appear in ``regions``.
    """
    need = {"patient_id", "visit_id", "region", "fraction"}
    if not need <= set(regions.columns):
        raise ValueError(f"regions table is missing column(s) {sorted(need - set(regions.columns))}")
    v = prepare_visits(visits)[["patient_id", "visit_id", "visit_index"]]
    r = regions.copy()
    r["patient_id"] = r["patient_id"].astype(str)
    r["visit_id"] = r["visit_id"].astype(str)
    r["fraction"] = pd.to_numeric(r["fraction"], errors="coerce").astype(float)
    if "assessed" in r.columns:
        r = r[r["assessed"].map(_to_bool)]
    r = r.merge(v, on=["patient_id", "visit_id"], how="inner")
    r["_group"] = r["visit_id"] if table.mode == "visit_id" else r["visit_index"].astype(str)
    rows: list[dict[str, Any]] = []
    for region in dict.fromkeys(r["region"].astype(str)):
        rr = r[r["region"].astype(str) == region]
        base = rr[rr["visit_index"] == 0].drop_duplicates("patient_id").set_index("patient_id")["fraction"]
        for order, g in enumerate(table.groups):
            cur = rr[rr["_group"] == g].drop_duplicates("patient_id").set_index("patient_id")["fraction"]
            s = summarise(100.0 * cur.values)
            row: dict[str, Any] = {"region": region, "visit": g, "order": order, "n": s["n"], "median_pct": s["median"],
                                   "q1_pct": s["q1"], "q3_pct": s["q3"], "n_paired": None, "change_pp_median": None,
                                   "change_pp_q1": None, "change_pp_q3": None, "p": None}
            if order > 0:
                paired = pd.concat([base.rename("b"), cur.rename("v")], axis=1, join="inner").dropna()
                d = 100.0 * (paired["v"] - paired["b"]).values
                ds = summarise(d)
                row.update({"n_paired": ds["n"], "change_pp_median": ds["median"], "change_pp_q1": ds["q1"],
                            "change_pp_q3": ds["q3"], "p": wilcoxon_p(d)})
            rows.append(row)
    df = pd.DataFrame(rows, columns=REGION_COLUMNS)
    for c in ("order", "n", "n_paired"):
        df[c] = pd.array([None if x is None or x != x else int(x) for x in df[c]], dtype="Int64")
    return df

