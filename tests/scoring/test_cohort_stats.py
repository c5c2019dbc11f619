"""Cohort statistics against the synthetic 10-patient cohort of ``helpers.make_visits``, worked out by hand.

The expected values are computed independently here (explicit arrays, numpy.percentile, scipy.stats.wilcoxon,
the closed-form Wilson interval), never through vitiseg.scoring.cohort_stats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from vitiseg.scoring import cohort_stats as cohort

from helpers import F, NAN, VISITS, make_visits, wilson_closed_form


def q(a: list[float]) -> tuple[float, float, float]:
    q1, m, q3 = np.percentile(np.asarray(a, dtype=float), [25, 50, 75])
    return float(m), float(q1), float(q3)


@pytest.fixture(scope="module")
def table() -> cohort.CohortTable:
    return cohort.cohort_table(make_visits())


def row(table: cohort.CohortTable, visit: str) -> dict:
    return next(r for r in table.rows if r["visit"] == visit)


def test_grouping_and_counts(table):
    assert table.mode == "visit_id"
    assert table.groups == VISITS
    assert table.n_patients == 10
    assert table.pro_columns == ["dlqi", "vns"]  # "notes" is not numeric
    b, w12, w24 = (row(table, v) for v in VISITS)
    assert (b["n_visits"], b["lost"], b["t_vasi_partial"]) == (10, 0, 0)
    assert (w12["n_visits"], w12["lost"], w12["t_vasi_partial"], w12["f_vasi_missing"]) == (10, 0, 1, 1)
    assert (w24["n_visits"], w24["lost"], w24["t_vasi_partial"]) == (9, 1, 1)


def test_fvasi_week12_matches_direct_computation(table):
    r = row(table, "week12")
    values = [0.4, 1.5, 0.5, 0.4, 0.9, 1.2, 0.0, 0.1, 2.1]  # P07 has no F-VASI
    assert r["f_vasi_n"] == 9
    assert (r["f_vasi_median"], r["f_vasi_q1"], r["f_vasi_q3"]) == pytest.approx(q(values))
    assert r["f_vasi_median"] == pytest.approx(0.5)
    # % change of the 8 patients with baseline > 0 and a week-12 value (P08: baseline 0; P07: missing)
    pct = [-60, -25, 0, -75, 12.5, -50, -90, -30]
    assert r["f_vasi_change_pct_n"] == 8
    assert r["f_vasi_change_pct_median"] == pytest.approx(-40.0)
    got = (r["f_vasi_change_pct_median"], r["f_vasi_change_pct_q1"], r["f_vasi_change_pct_q3"])
    assert got == pytest.approx(q(pct))
    # Wilcoxon on all 9 paired differences (P08's zero difference is dropped by zero_method="wilcox")
    base = np.array([1.0, 2.0, 0.5, 1.6, 0.8, 2.4, 0.0, 1.0, 3.0])
    cur = np.array([0.4, 1.5, 0.5, 0.4, 0.9, 1.2, 0.0, 0.1, 2.1])
    assert r["f_vasi_n_paired"] == 9
    assert r["f_vasi_p"] == pytest.approx(stats.wilcoxon(cur - base, zero_method="wilcox").pvalue, rel=1e-12)
    # responders: P01 -60, P04 -75, P06 -50 (exact threshold), P09 -90
    assert (r["f_vasi50_k"], r["f_vasi50_n"]) == (4, 8)
    assert (r["f_vasi75_k"], r["f_vasi75_n"]) == (2, 8)
    assert (r["f_vasi90_k"], r["f_vasi90_n"]) == (1, 8)
    assert r["f_vasi50_rate"] == pytest.approx(0.5)
    lo, hi = wilson_closed_form(4, 8)
    assert (r["f_vasi50_ci_low"], r["f_vasi50_ci_high"]) == pytest.approx((lo, hi), abs=1e-12)
    assert (lo, hi) == pytest.approx((0.2152, 0.7848), abs=1e-4)  # published Wilson 4/8 interval
    lo, hi = wilson_closed_form(1, 8)
    assert (r["f_vasi90_ci_low"], r["f_vasi90_ci_high"]) == pytest.approx((lo, hi), abs=1e-12)


def test_fvasi_week24_lost_patient_and_exact_thresholds(table):
    r = row(table, "week24")
    assert r["f_vasi_n"] == 9
    pct = [-80, -50, -50, -90, -25, -80, -50, -70]
    assert r["f_vasi_change_pct_median"] == pytest.approx(-60.0)
    assert (r["f_vasi_change_pct_q1"], r["f_vasi_change_pct_q3"]) == pytest.approx(q(pct)[1:])
    assert (r["f_vasi50_k"], r["f_vasi50_n"]) == (7, 8)
    assert (r["f_vasi75_k"], r["f_vasi75_n"]) == (3, 8)
    assert (r["f_vasi90_k"], r["f_vasi90_n"]) == (1, 8)  # 1.6 -> 0.16 is exactly -90 %
    base = np.array([1.0, 2.0, 0.5, 1.6, 0.8, 2.4, 1.2, 0.0, 3.0])
    cur = np.array([0.2, 1.0, 0.25, 0.16, 0.6, 0.48, 0.6, 0.1, 0.9])
    assert r["f_vasi_p"] == pytest.approx(stats.wilcoxon(cur - base).pvalue, rel=1e-12)
    # no ties, no zeros, n = 9: exact distribution, all 8 negative and one positive of rank 1 -> P = 2 * 2 / 512
    assert r["f_vasi_p"] == pytest.approx(4 / 512)


def test_tvasi_partial_excluded(table):
    r12, r24 = row(table, "week12"), row(table, "week24")
    assert r12["t_vasi_n"] == 9  # P10 partial
    assert r12["t_vasi_median"] == pytest.approx(q([6, 15, 5, 8, 9, 12, 10, 2, 4])[0])
    # T-VASI50 at week 12: P04 -50, P06 -50, P09 -60 of 9 non-partial pairs
    assert (r12["t_vasi50_k"], r12["t_vasi50_n"]) == (3, 9)
    b = np.array([10, 20, 5, 16, 8, 24, 12, 2, 10], float)
    c = np.array([6, 15, 5, 8, 9, 12, 10, 2, 4], float)
    assert r12["t_vasi_p"] == pytest.approx(stats.wilcoxon(c - b).pvalue, rel=1e-12)
    assert r12["t_vasi_change_pct_median"] == pytest.approx(np.median(100 * (c - b) / b))
    # week 24: P04 partial, P09 lost -> 8 pairs; -60 -50 -50 -25 -58.3 -50 -50 -60
    assert r24["t_vasi_n"] == 8
    assert (r24["t_vasi50_k"], r24["t_vasi50_n"]) == (7, 8)
    # including partial T-VASI changes the counts
    t2 = cohort.cohort_table(make_visits(), include_partial_tvasi=True)
    assert row(t2, "week12")["t_vasi_n"] == 10
    assert row(t2, "week24")["t_vasi50_n"] == 9


def test_pro_summaries(table):
    b, r12, r24 = (row(table, v) for v in VISITS)
    assert b["dlqi_n"] == 10
    assert b["dlqi_median"] == pytest.approx(np.median([12, 8, 5, 15, 3, 20, 10, 6, 9, 14]))
    base = np.array([12, 8, 5, 15, 3, 20, 6, 9, 14], float)  # without P07 (missing at week 12)
    cur = np.array([8, 8, 4, 10, 4, 12, 6, 5, 10], float)
    assert r12["dlqi_change_n"] == 9
    assert r12["dlqi_change_median"] == pytest.approx(np.median(cur - base))
    assert r12["dlqi_change_p"] == pytest.approx(stats.wilcoxon(cur - base).pvalue, rel=1e-12)
    assert r24["dlqi_n"] == 9
    # VNS has no baseline value: summarised per visit, but no paired change
    assert b["vns_n"] == 0 and b["vns_median"] is None
    assert r24["vns_median"] == pytest.approx(4.0)
    assert r24["vns_change_n"] == 0 and r24["vns_change_p"] is None


def test_baseline_row_has_no_change():
    b = cohort.cohort_table(make_visits()).rows[0]
    assert b["is_baseline"] and b["f_vasi_p"] is None and b["f_vasi50_k"] is None
    assert b["f_vasi_median"] == pytest.approx(np.median(F["baseline"]))


def test_group_by_visit_index_when_ids_are_dates():
    df = make_visits()
    # every patient has its own dates as visit ids -> visit_id grouping would give n = 1 groups
    df["visit_id"] = [f"2024-0{int(k) + 1}-{10 + i:02d}" for i, k in enumerate(df["visit_index"])]
    t = cohort.cohort_table(df)
    assert t.mode == "visit_index"
    assert t.groups == ["0", "1", "2"]
    ref = cohort.cohort_table(make_visits())
    for a, b in zip(t.rows, ref.rows):
        for k in ("n_visits", "lost", "f_vasi_median", "f_vasi50_k", "f_vasi_p", "t_vasi50_n", "dlqi_change_p"):
            assert a[k] == b[k] or (a[k] == pytest.approx(b[k]))
    # forcing visit_id reproduces the per-date groups
    assert cohort.cohort_table(df, group_by="visit_id").mode == "visit_id"


def test_unscheduled_visit_keeps_visit_id_grouping():
    df = make_visits()
    extra = df[(df["patient_id"] == "P01") & (df["visit_id"] == "week12")].copy()
    extra["visit_id"] = "week16"
    df.loc[(df["patient_id"] == "P01") & (df["visit_id"] == "week24"), "visit_index"] = "3"
    extra["visit_index"] = "2"
    df = pd.concat([df, extra], ignore_index=True)
    t = cohort.cohort_table(df)
    assert t.mode == "visit_id"
    assert t.groups == ["baseline", "week12", "week16", "week24"]
    w16 = next(r for r in t.rows if r["visit"] == "week16")
    assert (w16["n_visits"], w16["lost"]) == (1, 9)
    assert w16["f_vasi_p"] is None  # a single pair


def test_wilcoxon_p_conventions():
    assert cohort.wilcoxon_p([]) is None
    assert cohort.wilcoxon_p([0.3]) is None
    assert cohort.wilcoxon_p([0.0, 0.0, 0.0]) is None
    assert cohort.wilcoxon_p([1.0, -2.0, 3.0, 0.0]) == pytest.approx(
        stats.wilcoxon([1.0, -2.0, 3.0, 0.0]).pvalue)


def test_wilson_and_summarise_edges():
    assert cohort.wilson_ci(0, 0) == (None, None)
    lo, hi = cohort.wilson_ci(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(wilson_closed_form(0, 10)[1])
    assert cohort.responder_rate(0, 0)["rate"] is None
    assert cohort.summarise([NAN, None, ""])["n"] == 0
    assert cohort.summarise([1, 2, 3, 4])["q1"] == pytest.approx(1.75)


def test_duplicate_rows_rejected():
    df = make_visits()
    df = pd.concat([df, df.iloc[[0]]], ignore_index=True)
    with pytest.raises(ValueError, match="duplicate"):
        cohort.cohort_table(df)


def test_json_dict_is_strict_json():
    import json

    d = cohort.cohort_table(make_visits()).to_json_dict()
    text = json.dumps(d, allow_nan=False)
    assert "conventions" in d and json.loads(text)["rows"][1]["f_vasi50_k"] == 4


def test_non_responder_imputation_worked_by_hand(table):
    # F-VASI: 9 patients with baseline > 0 (P08 has 0). Week 12: responders P01 (-60), P04 (-75), P06 (-50),
    # P09 (-90); P07 has no score -> non-responder. Week 24: P09 lost -> non-responder.
    expected = {
        "week12": {"f_vasi50": (4, 9), "f_vasi75": (2, 9), "f_vasi90": (1, 9), "t_vasi50": (3, 10)},
        "week24": {"f_vasi50": (7, 9), "f_vasi75": (3, 9), "f_vasi90": (1, 9), "t_vasi50": (7, 10)},
    }
    for visit, cols in expected.items():
        r = row(table, visit)
        for col, (k, n) in cols.items():
            assert (r[f"{col}_nri_k"], r[f"{col}_nri_n"]) == (k, n), (visit, col)
            assert r[f"{col}_nri_rate"] == pytest.approx(k / n)
            lo, hi = wilson_closed_form(k, n)
            assert (r[f"{col}_nri_ci_low"], r[f"{col}_nri_ci_high"]) == pytest.approx((lo, hi), abs=1e-9)
            # same responders as the observed-case rate; only the denominator differs
            assert r[f"{col}_k"] == k and r[f"{col}_n"] <= n
    b = row(table, "baseline")
    assert b["f_vasi50_nri_n"] is None and b["t_vasi50_nri_k"] is None
    assert "responders_nri" in table.to_json_dict()["conventions"]


def test_region_table_worked_by_hand():
    visits = pd.DataFrame({"patient_id": ["A", "A", "B", "B", "C", "C"],
                           "visit_id": ["baseline", "week12"] * 3, "visit_index": ["0", "1"] * 3})
    rows = []
    face = {"A": (0.30, 0.15), "B": (0.10, 0.10), "C": (0.20, 0.02)}
    hands = {"A": (0.05, 0.04), "B": (0.08, None), "C": (0.00, 0.01)}  # B's week-12 hands not assessed
    for region, vals in (("face", face), ("hands", hands)):
        for pid, (b, w) in vals.items():
            rows.append({"patient_id": pid, "visit_id": "baseline", "region": region, "fraction": str(b),
                         "assessed": "True"})
            rows.append({"patient_id": pid, "visit_id": "week12", "region": region,
                         "fraction": "" if w is None else str(w), "assessed": str(w is not None)})
    table = cohort.cohort_table(visits)
    rt = cohort.region_table(pd.DataFrame(rows), visits, table)
    assert list(rt["region"]) == ["face", "face", "hands", "hands"]
    fb, fw = rt.iloc[0], rt.iloc[1]
    assert (fb["n"], fb["median_pct"], fb["q1_pct"], fb["q3_pct"]) == (3, pytest.approx(20.0), pytest.approx(15.0),
                                                                        pytest.approx(25.0))
    assert pd.isna(fb["n_paired"]) and pd.isna(fb["p"])
    d = np.array([15 - 30, 10 - 10, 2 - 20], float)
    assert fw["n"] == 3 and fw["median_pct"] == pytest.approx(10.0) and fw["n_paired"] == 3
    assert (fw["change_pp_median"], fw["change_pp_q1"], fw["change_pp_q3"]) == pytest.approx(q(list(d)))
    assert fw["p"] == pytest.approx(stats.wilcoxon(d).pvalue)
    hw = rt.iloc[3]
    assert hw["n"] == 2 and hw["n_paired"] == 2
    assert hw["change_pp_median"] == pytest.approx(0.0)  # A -1 pp, C +1 pp
