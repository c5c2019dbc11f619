"""A run's scores against the exact truth of a synthetic cohort (vitiseg.evaluation.cohort_accuracy), on hand-made
truth and run tables with known errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vitiseg.evaluation import cohort_accuracy as ca

from helpers import REPO, load_script

REGIONS = ca.REGION_COLUMNS


def _write(d: Path, name: str, header: list[str], rows: list[list]) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(",".join(header) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))


def test_cohort_accuracy_exact(tmp_path):
    truth, run = tmp_path / "truth", tmp_path / "run"
    # truth: P1 1.0 -> 0.2 (F-VASI75 yes), P2 0.5 -> 0.4 (no); T-VASI 2 -> 1 and 1 -> 1
    _write(truth, "visits.csv", ["patient_id", "visit_id", "visit_index", "f_vasi", "t_vasi"]
           + [f"frac_{r}" for r in REGIONS],
           [["P1", "baseline", 0, 1.0, 2.0] + [0.10] * 7, ["P1", "week12", 1, 0.2, 1.0] + [0.05] * 7,
            ["P2", "baseline", 0, 0.5, 1.0] + [0.20] * 7, ["P2", "week12", 1, 0.4, 1.0] + [0.20] * 7])
    _write(truth, "patients.csv", ["patient_id", "baseline_visit_id", "final_visit_id", "f_vasi50", "f_vasi75",
                                   "f_vasi90", "t_vasi50"],
           [["P1", "baseline", "week12", True, True, False, True], ["P2", "baseline", "week12", False, False, False,
                                                                     False]])
    # run: F-VASI off by +0.1 on every visit, T-VASI exact; P2 wrongly flagged F-VASI50
    _write(run, "visits.csv", ["patient_id", "visit_id", "f_vasi", "t_vasi"],
           [["P1", "baseline", 1.1, 2.0], ["P1", "week12", 0.3, 1.0], ["P2", "baseline", 0.6, 1.0],
            ["P2", "week12", 0.5, 1.0]])
    _write(run, "longitudinal.csv", ["patient_id", "visit_id", "f_vasi50", "f_vasi75", "f_vasi90", "t_vasi50"],
           [["P1", "baseline", "", "", "", ""], ["P1", "week12", True, True, False, True],
            ["P2", "baseline", "", "", "", ""], ["P2", "week12", True, False, False, False]])
    _write(run, "regions.csv", ["patient_id", "visit_id", "region", "fraction"],
           [[p, v, r, f + 0.01] for p, v, f in [("P1", "baseline", 0.10), ("P1", "week12", 0.05),
                                               ("P2", "baseline", 0.20), ("P2", "week12", 0.20)] for r in REGIONS])
    # photos: trunk of P1 baseline flagged (share 0.08, error 20 pp); the others not flagged (error 1 pp)
    photos = [[p, v, r, f + (0.20 if (p, v, r) == ("P1", "baseline", "trunk") else 0.01),
               0.08 if (p, v, r) == ("P1", "baseline", "trunk") else 0.01]
              for p, v, f in [("P1", "baseline", 0.10), ("P1", "week12", 0.05), ("P2", "baseline", 0.20),
                              ("P2", "week12", 0.20)] for r in REGIONS]
    _write(run, "photos.csv", ["patient_id", "visit_id", "region", "fraction", "uncertain_share"], photos)
    res = ca.compare(truth, run)
    u = res["uncertainty_flag"]
    assert (u["flagged"]["n"], u["not_flagged"]["n"]) == (1, 27)
    assert u["flagged"]["mae_pp"] == pytest.approx(20.0) and u["not_flagged"]["mae_pp"] == pytest.approx(1.0)
    assert (u["flagged"]["over_10pp_pct"], u["not_flagged"]["over_10pp_pct"]) == (100.0, 0.0)
    assert res["n_visits_scored"] == 4
    f = res["per_visit_error"]["f_vasi"]
    assert f["mae"] == pytest.approx(0.1) and f["bias"] == pytest.approx(0.1) and f["pearson_r"] == pytest.approx(1.0)
    assert res["per_visit_error"]["t_vasi"]["mae"] == pytest.approx(0.0)
    assert res["visits"]["baseline"]["f_vasi_median_true"] == pytest.approx(0.75)
    assert res["visits"]["week12"]["f_vasi_median_run"] == pytest.approx(0.4)
    r50 = res["responders"]["f_vasi50"]
    assert (r50["true_pct"], r50["run_pct"], r50["agreement_pct"]) == (50.0, 100.0, 50.0)
    assert res["responders"]["f_vasi75"]["agreement_pct"] == 100.0
    for r in REGIONS:
        assert res["region_fraction_error"][r]["mae_pp"] == pytest.approx(1.0)
    text = ca.table(res)
    assert "| F-VASI50 / 75 / 90 | 50 / 50 / 0 % | 100 / 50 / 0 % |" in text
    assert ca.main(["--truth", str(truth), "--run", str(run), "--json", str(tmp_path / "a.json")]) == 0


def test_photo_checks_exact():
    j = pd.DataFrame({"true_fraction": [0.0, 0.0, 0.0, 0.30, 0.40, 0.10],
                      "fraction": [0.00, 0.02, 0.10, 0.10, 0.35, 0.01]})
    pc = ca.photo_checks(j)
    assert pc["lesion_free"]["n"] == 3 and pc["lesion_free"]["n_over_cut"] == 1
    assert pc["lesion_free"]["mean_pct"] == pytest.approx(4.0)
    assert pc["large"]["n"] == 2 and pc["large"]["n_under_called"] == 1  # 0.10 < 0.5 * 0.30; 0.35 >= 0.20
    text = ca.table({"visits": {}, "per_visit_error": {"f_vasi": {"mae": 0, "bias": 0, "pearson_r": 1},
                                                       "t_vasi": {"mae": 0, "bias": 0, "pearson_r": 1}},
                     "responders": {c: {"true_pct": 0, "run_pct": 0, "agreement_pct": 100}
                                    for c in ("f_vasi50", "f_vasi75", "f_vasi90", "t_vasi50")},
                     "region_fraction_error": {}, "photo_checks": pc})
    assert "Lesion-free photos: 3, mean measured fraction 4.00 %, 1 above 5 %." in text
    assert "Photos with >= 20 % involvement: 2, 1 measured below 50 % of the truth." in text
    assert ca.photo_checks(None) == {}


def test_uncertainty_calibration_table_exact():
    uc = load_script("scripts/uncertainty_calibration.py")
    share = [0.0, 0.01, 0.03, 0.05, 0.07, 0.25]
    err = [1.0, 3.0, 12.0, 20.0, 8.0, 40.0]
    t = uc.calibration_table(share, err)
    assert [b["bin"] for b in t["bins"]] == ["< 2 %", "2-5 %", "5-10 %", "10-20 %", ">= 20 %"]
    assert [b["n"] for b in t["bins"]] == [2, 1, 2, 0, 1]  # 0.05 falls in 5-10 %, like the report's >= 5 % cut
    assert t["bins"][0]["mean_err_pp"] == pytest.approx(2.0) and t["bins"][0]["over_10pp_pct"] == 0.0
    assert t["bins"][2]["mean_err_pp"] == pytest.approx(14.0) and t["bins"][2]["over_10pp_pct"] == 50.0
    assert t["bins"][3]["n"] == 0 and t["bins"][3]["mean_err_pp"] != t["bins"][3]["mean_err_pp"]  # NaN when empty
    assert t["spearman"] == pytest.approx(0.8285714, abs=1e-6)


def test_several_cohorts_are_summarised(tmp_path):
    test_cohort_accuracy_exact(tmp_path / "a")  # writes tmp_path/a/{truth,run}
    a_truth, a_run = tmp_path / "a" / "truth", tmp_path / "a" / "run"
    # cohort b: the same truth, a run whose F-VASI is off by +0.3 instead of +0.1
    b_truth, b_run = tmp_path / "b" / "truth", tmp_path / "b" / "run"
    shutil.copytree(a_truth, b_truth)
    shutil.copytree(a_run, b_run)
    v = (b_run / "visits.csv").read_text().replace("1.1,", "1.3,").replace("0.3,", "0.5,").replace("0.6,", "0.8,")
    (b_run / "visits.csv").write_text(v.replace("P2,week12,0.5,", "P2,week12,0.7,"))
    out = tmp_path / "all.json"
    argv = ["--truth", str(a_truth), "--run", str(a_run), "--truth", str(b_truth), "--run", str(b_run),
            "--json", str(out)]
    assert ca.main(argv) == 0
    res = json.loads(out.read_text())
    per = res["summary"]["cohorts"]
    assert per[str(a_truth)]["F-VASI MAE"] == pytest.approx(0.1)
    assert per[str(b_truth)]["F-VASI MAE"] == pytest.approx(0.3)
    assert res["summary"]["mean"]["F-VASI MAE"] == pytest.approx(0.2)
    assert res["summary"]["mean"]["T-VASI MAE"] == pytest.approx(0.0)
    assert set(res["cohorts"]) == {str(a_truth), str(b_truth)}
    with pytest.raises(SystemExit):
        ca.main(["--truth", str(a_truth), "--truth", str(b_truth), "--run", str(a_run)])


def test_script_is_the_packaged_command(tmp_path):
    test_cohort_accuracy_exact(tmp_path)
    r = subprocess.run([sys.executable, str(REPO / "scripts" / "cohort_accuracy.py"), "--truth",
                        str(tmp_path / "truth"), "--run", str(tmp_path / "run")], capture_output=True, text=True,
                       cwd=tmp_path)  # from another folder: the script needs the installed package only
    assert r.returncode == 0, r.stderr
    assert "4 of 4 visits scored, 2 patients" in r.stdout
    assert "| F-VASI50 / 75 / 90 | 50 / 50 / 0 % | 100 / 50 / 0 % |" in r.stdout
