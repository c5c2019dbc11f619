"""Treatment arms: Newcombe's interval against its published examples, the between-arm rows of a small trial worked
out by hand, the reference arm, and no comparison with one arm."""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from vitiseg.scoring.arms import compare_arms, newcombe_ci, patient_arms, reference_arm
from vitiseg.scoring.cohort_stats import cohort_table


@pytest.mark.parametrize("k1,n1,k2,n2,lo,hi", [
    (56, 70, 48, 80, 0.0524, 0.3339),  # Newcombe, Stat Med 1998;17:873, Table II, method 10
    (9, 10, 3, 10, 0.1705, 0.8090),
    (10, 10, 0, 20, 0.6791, 1.0000),
])
def test_newcombe_interval_matches_the_published_examples(k1, n1, k2, n2, lo, hi) -> None:
    got = newcombe_ci(k1, n1, k2, n2)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def _trial() -> pd.DataFrame:
    """6 patients, 3 per arm; F-VASI baseline 1.0, week12 as below; every T-VASI complete."""
    wk12 = {"A1": 0.05, "A2": 0.2, "A3": 0.6, "V1": 0.9, "V2": 1.1, "V3": 0.4}
    rows = []
    for p, f1 in wk12.items():
        arm = "active" if p.startswith("A") else "Vehicle"
        rows.append({"patient_id": p, "visit_id": "baseline", "visit_index": 0, "f_vasi": 1.0, "t_vasi": 4.0,
                     "t_vasi_partial": False, "arm": arm})
        rows.append({"patient_id": p, "visit_id": "week12", "visit_index": 1, "f_vasi": f1, "t_vasi": 4.0 * f1,
                     "t_vasi_partial": False, "arm": ""})  # the arm given once is enough
    return pd.DataFrame(rows)


def test_between_arm_rows_of_a_small_trial() -> None:
    v = _trial()
    comp = compare_arms(v, cohort_table(v))
    assert comp is not None and comp.arms == ["Vehicle", "active"] and comp.reference == "Vehicle"
    df = comp.to_frame().set_index("endpoint")
    r = df.loc["f_vasi50"]  # active: A1 (-95 %), A2 (-80 %) respond; vehicle: V3 (-60 %)
    assert (r["arm_k"], r["arm_n"], r["reference_k"], r["reference_n"]) == (2, 3, 1, 3)
    assert r["difference"] == pytest.approx(1 / 3)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx(newcombe_ci(2, 3, 1, 3))
    assert r["p"] == pytest.approx(stats.fisher_exact([[2, 1], [1, 2]]).pvalue) and r["p"] == pytest.approx(1.0)
    r = df.loc["f_vasi75"]
    assert (r["arm_k"], r["reference_k"]) == (2, 0)
    assert r["p"] == pytest.approx(0.4)  # Fisher: [[2, 1], [0, 3]] -> 0.4
    r = df.loc["f_vasi_change_pct"]
    assert r["arm_median"] == pytest.approx(-80.0) and r["reference_median"] == pytest.approx(-10.0)
    assert r["p"] == pytest.approx(stats.mannwhitneyu([-95, -80, -40], [-10, 10, -60]).pvalue)
    assert comp.tables["active"].n_patients == 3 and comp.tables["active"].rows[1]["f_vasi_median"] == 0.2
    assert list(comp.tables_frame()["arm"]) == ["Vehicle", "Vehicle", "active", "active"]


def test_reference_arm_and_single_arm() -> None:
    assert reference_arm(["ruxolitinib", "placebo"]) == "placebo"
    assert reference_arm(["b2", "b10"]) == "b2"  # no control named: the first in natural order
    v = _trial()
    v["arm"] = v["arm"].replace("Vehicle", "active")
    assert compare_arms(v, cohort_table(v)) is None
    assert patient_arms(v.drop(columns="arm")).empty
