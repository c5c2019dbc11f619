"""Areas in cm2 beyond the photo totals: each depigmented patch of a photo with a scale (``patch_areas.csv``), and per
visit and region, the measured areas in the patient's own hand units beside the Lund-Browder estimate.

A *patch* is an 8-connected component of depigmented pixels (class 2) inside the counted area (the facial area of a
face photo), of at least :data:`MIN_PATCH_PX` pixels at the working size (smaller specks are not reported as
patches; they stay in the photo's totals). Its area is its pixel count over (px per cm)^2 of the photo's markers.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..config import PALM
from ..io.images import read_mask
from .scale import area_cm2

MIN_PATCH_PX = 9  # a 3 x 3 px square at the working size
PATCH_COLUMNS = ["patient_id", "visit_id", "region", "view", "path", "patch", "area_px", "area_cm2", "centroid_x",
                 "centroid_y"]
#: primary keys of the tables in vitiseg.sqlite
CALIBRATION_TABLE_KEYS = {"patch_areas": ["path", "patch"], "hand_units": ["patient_id", "visit_id", "region"]}
HAND_UNIT_COLUMNS = ["patient_id", "visit_id", "region", "hand_unit_cm2", "hand_unit_source", "skin_cm2",
                     "depigmented_cm2", "skin_hu", "depigmented_hu", "lund_browder_hu", "lund_browder_depigmented_hu"]


def patches(classes: np.ndarray, area: np.ndarray | None, px_per_cm: float) -> list[dict[str, float]]:
    """Depigmented patches of one photo, largest first: ``area_px``, ``area_cm2``, centroid (x, y) px.

    ``classes``: ``(H, W) uint8`` {0, 1, 2}; ``area``: ``(H, W) bool`` counted area or None (whole photo)."""
    depig = classes == 2
    if area is not None:
        depig &= area
    n, _, stats, centroids = cv2.connectedComponentsWithStats(depig.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, n):
        a = int(stats[i, cv2.CC_STAT_AREA])
        if a >= MIN_PATCH_PX:
            out.append({"area_px": a, "area_cm2": round(area_cm2(a, px_per_cm), 4),
                        "centroid_x": round(float(centroids[i, 0]), 1), "centroid_y": round(float(centroids[i, 1]), 1)})
    out.sort(key=lambda p: -p["area_px"])
    return out


def patch_table(photos: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """``patch_areas.csv``: the patches of every measured photo with a scale (``px_per_cm``), read back from its
    class mask (and facial area) in ``out_dir``. Rows ordered like ``photos``, patches largest first."""
    rows = []
    for r in photos.to_dict("records"):
        ppc = pd.to_numeric(r.get("px_per_cm", ""), errors="coerce")
        if r.get("status") != "ok" or not np.isfinite(ppc) or r.get("region") == PALM:
            continue
        classes = read_mask(out_dir / r["mask"])
        area = read_mask(out_dir / r["face_area"]) > 0 if r.get("face_area") else None
        for k, p in enumerate(patches(classes, area, float(ppc)), start=1):
            rows.append({"patient_id": r["patient_id"], "visit_id": r["visit_id"], "region": r["region"],
                         "view": r["view"], "path": r["path"], "patch": k, **p})
    return pd.DataFrame(rows, columns=PATCH_COLUMNS)


def hand_unit_table(photos: pd.DataFrame, regions: pd.DataFrame) -> pd.DataFrame:
    """Per visit and region with cm2: the areas in the patient's own hand units beside the Lund-Browder estimate.

    ``photos``: photos.csv; ``regions``: regions.csv (``hand_units`` = the region's Lund-Browder size, ``fraction``).
    The visit's hand unit is the mean of its palm photos; a visit without one uses the median of the patient's other
    visits (``hand_unit_source`` says which). ``skin_hu`` / ``depigmented_hu``: photographed skin / depigmented skin
    in the patient's hand units (what the photos show, so a lower bound when a region is not photographed whole);
    ``lund_browder_hu``: the region's size in hand units; ``lund_browder_depigmented_hu`` = size x fraction, the
    contribution vitiseg's T-VASI uses."""
    num = photos.assign(**{c: pd.to_numeric(photos[c], errors="coerce")
                           for c in ("hand_unit_cm2", "skin_cm2", "depigmented_cm2")})
    num = num[num["status"] == "ok"]
    palms = num[(num["region"] == PALM) & num["hand_unit_cm2"].notna()]
    if palms.empty:
        return pd.DataFrame(columns=HAND_UNIT_COLUMNS)
    per_visit = palms.groupby(["patient_id", "visit_id"])["hand_unit_cm2"].mean()
    per_patient = per_visit.groupby(level=0).median()
    scaled = num[(num["region"] != PALM) & num["skin_cm2"].notna()]
    sums = scaled.groupby(["patient_id", "visit_id", "region"])[["skin_cm2", "depigmented_cm2"]].sum()
    reg = regions.set_index(["patient_id", "visit_id", "region"])
    rows = []
    for (pid, vid, region), s in sums.iterrows():
        if pid not in per_patient.index:
            continue
        own = (pid, vid) in per_visit.index
        hu = float(per_visit[(pid, vid)] if own else per_patient[pid])
        lb = pd.to_numeric(reg.loc[(pid, vid, region), "hand_units"], errors="coerce") if (pid, vid, region) in \
            reg.index else float("nan")
        frac = pd.to_numeric(reg.loc[(pid, vid, region), "fraction"], errors="coerce") if (pid, vid, region) in \
            reg.index else float("nan")
        rows.append({"patient_id": pid, "visit_id": vid, "region": region, "hand_unit_cm2": round(hu, 3),
                     "hand_unit_source": "this visit" if own else "median of the patient's visits",
                     "skin_cm2": round(float(s["skin_cm2"]), 3),
                     "depigmented_cm2": round(float(s["depigmented_cm2"]), 3),
                     "skin_hu": round(float(s["skin_cm2"]) / hu, 4),
                     "depigmented_hu": round(float(s["depigmented_cm2"]) / hu, 4),
                     "lund_browder_hu": lb, "lund_browder_depigmented_hu": round(float(lb * frac), 4)})
    return pd.DataFrame(rows, columns=HAND_UNIT_COLUMNS)


def calibration_tables(photos: pd.DataFrame, regions: pd.DataFrame, out_dir: Path) -> dict[str, pd.DataFrame]:
    """The run's tables from calibration: ``patch_areas`` (:func:`patch_table`) and ``hand_units``
    (:func:`hand_unit_table`), each written as ``OUT/<name>.csv`` and into the SQLite file."""
    return {"patch_areas": patch_table(photos, out_dir), "hand_units": hand_unit_table(photos, regions)}
