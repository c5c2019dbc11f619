"""Visit-to-visit consistency of the healthy skin's colour: which patients' healthy skin moved more between visits than
the colour calibration's error explains.

Each measured photo carries the median L* and the ITA of its healthy skin (class 1 inside the counted area;
``skin_L``, ``skin_ita`` in photos.csv), measured on the colour-referenced photo: corrected by its chart when one was
accepted, else as taken. Per patient, region and view, every later visit is compared with the first visit that has a
value. A change beyond ``calibration.consistency.max_delta_L`` (L*) or ``max_delta_ita`` (degrees) is flagged. The
defaults (3 L*, 4 deg) lie well above what the chart correction leaves between photos of one scene under casts of
0.7-1.25 per channel and exposures of 0.7-1.3 (largest 0.3 L* and 1.8 deg on 8 synthetic scenes,
``scripts/calibration_benchmark.py``), and well below what the same casts do without a chart (up to 10 L* and 36 deg
from the true colour). So with a chart on both photos a flagged change is the skin's own (a tan, sun exposure,
treatment); without, the light may have changed instead, and the flag says so.
"""

from __future__ import annotations

import pandas as pd

from ..config import PALM, ConsistencyConfig

COLUMNS = ["patient_id", "region", "view", "baseline_visit", "visit_id", "charts", "skin_L_baseline", "skin_L",
           "delta_L", "skin_ita_baseline", "skin_ita", "delta_ita", "flagged", "reason"]


def skin_colour_changes(photos: pd.DataFrame, visit_order: pd.DataFrame, cfg: ConsistencyConfig) -> pd.DataFrame:
    """One row per later photo of a patient, region and view that has a skin colour at two visits (:data:`COLUMNS`).

    ``photos``: photos.csv (text or typed); ``visit_order``: patient_id, visit_id, visit_index (visits.csv).
    ``charts``: ``both`` when both photos were corrected by a chart, else ``not both``."""
    df = photos[(photos["status"] == "ok") & (photos["region"] != PALM)].copy()
    df["L"] = pd.to_numeric(df["skin_L"], errors="coerce")
    df["ita"] = pd.to_numeric(df["skin_ita"], errors="coerce")
    df = df.dropna(subset=["L", "ita"])
    order = visit_order[["patient_id", "visit_id", "visit_index"]].astype({"visit_index": int})
    df = df.merge(order, on=["patient_id", "visit_id"], how="inner").sort_values(["visit_index", "path"])
    rows = []
    for (pid, region, view), g in df.groupby(["patient_id", "region", "view"], sort=True):
        g = g.drop_duplicates("visit_id")  # one photo per visit and view: the first by path
        if len(g) < 2:
            continue
        base = g.iloc[0]
        for _, r in g.iloc[1:].iterrows():
            charts = "both" if base["chart"] == "corrected" and r["chart"] == "corrected" else "not both"
            dl, dita = float(r["L"] - base["L"]), float(r["ita"] - base["ita"])
            flagged = abs(dl) > cfg.max_delta_L or abs(dita) > cfg.max_delta_ita
            reason = ""
            if flagged:
                what = f"healthy skin L* {dl:+.1f}, ITA {dita:+.1f} deg since {base['visit_id']}"
                reason = (f"{what}: beyond the chart calibration's error, the skin's colour changed (tan?)"
                          if charts == "both" else
                          f"{what}: no colour chart on both photos, so the light or the skin (tan?) changed")
            rows.append({"patient_id": pid, "region": region, "view": view, "baseline_visit": base["visit_id"],
                         "visit_id": r["visit_id"], "charts": charts, "skin_L_baseline": round(float(base["L"]), 2),
                         "skin_L": round(float(r["L"]), 2), "delta_L": round(dl, 2),
                         "skin_ita_baseline": round(float(base["ita"]), 2), "skin_ita": round(float(r["ita"]), 2),
                         "delta_ita": round(dita, 2), "flagged": flagged, "reason": reason})
    return pd.DataFrame(rows, columns=COLUMNS)
