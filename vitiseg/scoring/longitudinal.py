"""Longitudinal scoring: change from baseline and responder flags per patient visit.

- % change = 100 x (value - baseline) / baseline: negative is improvement. Undefined (NaN) when the baseline is 0
  or missing, or the visit's value is missing.
- F-VASI50 / F-VASI75 / F-VASI90: at least 50 / 75 / 90 % lower than baseline (change <= -50 / -75 / -90 %);
  T-VASI50: change <= -50 %. Undefined (None) whenever the change is undefined; the baseline visit itself has no flags.
- T-VASI change is computed only when both visits assessed the same regions; a partial visit (or a baseline with
  different regions) gets its change and T-VASI50 flag left undefined, so a missing photo never looks like a response.
"""

from __future__ import annotations

import math

import pandas as pd

RESPONDER_THRESHOLDS = {"f_vasi50": ("f_vasi", 50.0), "f_vasi75": ("f_vasi", 75.0),
                        "f_vasi90": ("f_vasi", 90.0), "t_vasi50": ("t_vasi", 50.0)}

LONGITUDINAL_COLUMNS = [
    "patient_id", "visit_id", "visit_index", "date", "baseline_visit_id",
    "f_vasi_baseline", "f_vasi", "f_vasi_change_pct", "f_vasi50", "f_vasi75", "f_vasi90",
    "t_vasi_baseline", "t_vasi", "t_vasi_change_pct", "t_vasi50", "t_vasi_partial",
]


def percent_change(value: float, baseline: float) -> float:
    """100 x (value - baseline) / baseline; NaN if either is NaN/None or baseline is 0."""
    if value is None or baseline is None or math.isnan(value) or math.isnan(baseline) or baseline == 0:
        return float("nan")
    return 100.0 * (value - baseline) / baseline


def responder(change_pct: float, reduction_pct: float) -> bool | None:
    """True when the score fell by at least ``reduction_pct`` %; None when the change is undefined."""
    if change_pct is None or math.isnan(change_pct):
        return None
    return bool(change_pct <= -reduction_pct + 1e-9)


def longitudinal(visits: pd.DataFrame) -> pd.DataFrame:
    """Per patient and visit: baseline values, % change and responder flags.

    ``visits`` needs columns patient_id, visit_id, visit_index (0 = baseline), date, f_vasi, t_vasi,
    t_vasi_partial, missing_regions. Returns a frame with :data:`LONGITUDINAL_COLUMNS`.
    """
    rows = []
    for patient, g in visits.sort_values(["patient_id", "visit_index"]).groupby("patient_id", sort=False):
        base = g.iloc[0]
        for _, v in g.iterrows():
            is_base = v["visit_index"] == base["visit_index"]
            fc = percent_change(float(v["f_vasi"]), float(base["f_vasi"]))
            comparable = (not bool(v["t_vasi_partial"]) and not bool(base["t_vasi_partial"])
                          and v.get("missing_regions", "") == base.get("missing_regions", ""))
            tc = percent_change(float(v["t_vasi"]), float(base["t_vasi"])) if comparable else float("nan")
            row = {
                "patient_id": patient, "visit_id": v["visit_id"], "visit_index": int(v["visit_index"]),
                "date": v.get("date", ""), "baseline_visit_id": base["visit_id"],
                "f_vasi_baseline": float(base["f_vasi"]), "f_vasi": float(v["f_vasi"]),
                "f_vasi_change_pct": fc,
                "t_vasi_baseline": float(base["t_vasi"]), "t_vasi": float(v["t_vasi"]),
                "t_vasi_change_pct": tc, "t_vasi_partial": bool(v["t_vasi_partial"]),
            }
            for flag, (score, thr) in RESPONDER_THRESHOLDS.items():
                change = fc if score == "f_vasi" else tc
                row[flag] = None if is_base else responder(change, thr)
            rows.append(row)
    return pd.DataFrame(rows, columns=LONGITUDINAL_COLUMNS)
