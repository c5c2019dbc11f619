"""The run's result tables, rebuilt from the per-photo rows: photos, regions, visits and longitudinal.

Row order is deterministic (patients and visits in visit order, photos by path), so the same inputs and settings give
the same tables byte for byte.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ..calibration.photo import CALIBRATION_COLUMNS
from ..config import RegionsConfig
from ..io.layout import VisitsLayout
from ..scoring import vasi
from ..scoring.longitudinal import longitudinal

PHOTO_COLUMNS = [
    "patient_id", "visit_id", "region", "view", "path", "sha256", "width", "height", "skin_px", "depigmented_px",
    "fraction", "vasi_level", "uncertain_share", "face_area_status", "status", "error", "mask", "overlay",
    "face_area",
] + CALIBRATION_COLUMNS
REGION_COLUMNS = [
    "patient_id", "visit_id", "region", "tvasi_region", "hand_units", "n_photos", "skin_px", "depigmented_px",
    "fraction", "vasi_level", "contribution", "assessed",
]
VISIT_COLUMNS = [
    "patient_id", "visit_id", "visit_index", "date", "f_vasi", "t_vasi", "t_vasi_partial", "missing_regions",
    "n_photos", "n_failed",
]

# primary keys of the tables in vitiseg.sqlite
TABLE_KEYS = {"photos": ["path"], "regions": ["patient_id", "visit_id", "region"],
              "visits": ["patient_id", "visit_id"], "longitudinal": ["patient_id", "visit_id"]}


def build_tables(rows: list[dict[str, Any]], layout: VisitsLayout, regions: RegionsConfig
                 ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """photos, regions, visits and longitudinal tables from photo rows (deterministic row order)."""
    photos = pd.DataFrame(rows, columns=PHOTO_COLUMNS).sort_values(["patient_id", "visit_id", "path"], kind="stable")
    photos = photos.reset_index(drop=True)
    ok = photos[photos["status"] == "ok"]
    region_rows, visit_rows = [], []
    for vm in layout.visit_meta.itertuples(index=False):
        pid, vid = vm.patient_id, vm.visit_id
        vis_photos = photos[(photos["patient_id"] == pid) & (photos["visit_id"] == vid)]
        vis_ok = ok[(ok["patient_id"] == pid) & (ok["visit_id"] == vid)]
        fractions: dict[str, float] = {}
        for name, spec in regions.regions.items():
            rp = vis_ok[vis_ok["region"] == name]
            n_all = int((vis_photos["region"] == name).sum())
            s, d = int(rp["skin_px"].astype(int).sum()), int(rp["depigmented_px"].astype(int).sum())
            assessed = len(rp) > 0 and s > 0
            f = vasi.fraction(s, d) if assessed else float("nan")
            if assessed:
                fractions[name] = f
            region_rows.append({
                "patient_id": pid, "visit_id": vid, "region": name, "tvasi_region": spec.tvasi_region,
                "hand_units": spec.hand_units, "n_photos": n_all, "skin_px": s if assessed else "",
                "depigmented_px": d if assessed else "", "fraction": f,
                "vasi_level": vasi.vasi_level(f) if assessed else "",
                "contribution": spec.hand_units * f if assessed else float("nan"), "assessed": assessed,
            })
        vs = vasi.score_visit(fractions, regions)
        row = {"patient_id": pid, "visit_id": vid, "visit_index": int(vm.visit_index), "date": vm.date,
               "f_vasi": vs.f_vasi, "t_vasi": vs.t_vasi, "t_vasi_partial": vs.t_vasi_partial,
               "missing_regions": ";".join(vs.missing_regions), "n_photos": len(vis_photos),
               "n_failed": int((vis_photos["status"] != "ok").sum())}
        for c in layout.pro_columns:
            row[c] = getattr(vm, c) if c.isidentifier() else layout.visit_meta.loc[
                (layout.visit_meta.patient_id == pid) & (layout.visit_meta.visit_id == vid), c].iloc[0]
        visit_rows.append(row)
    regions_df = pd.DataFrame(region_rows, columns=REGION_COLUMNS)
    visits_df = pd.DataFrame(visit_rows, columns=VISIT_COLUMNS + layout.pro_columns)
    long_df = longitudinal(visits_df)
    return photos, regions_df, visits_df, long_df
