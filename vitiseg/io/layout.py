"""Discovery of a visits folder: which photo belongs to which patient, visit and body region.

Convention: ``VISITS/<patient_id>/<visit_id>/<region>[_<view>].<jpg|jpeg|png|tif|tiff>``. The region token is the
shortest ``_``-separated prefix of the file stem that names a region or alias of the regions config (``vitiseg/defaults/regions.yaml``)
(``hand_dorsal`` -> region ``hands``, view ``dorsal``; ``face_left`` -> ``face``, view ``left``). An unknown region is
an error for that photo, never a guess. A file named ``palm[_<view>]`` is the visit's hand-unit photo (region
:data:`vitiseg.config.PALM`, measured by :mod:`vitiseg.calibration.hand_unit`, not scored).

Optional ``VISITS/manifest.csv`` (path, patient_id, visit_id, region[, view]) replaces the folder convention.
Optional ``VISITS/visits.csv`` (patient_id, visit_id, date, plus any patient-reported outcome columns) gives visit
dates and order; otherwise visits are ordered by natural sort of visit_id. The first visit is the baseline.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import PALM, RegionsConfig
from .images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

RESERVED_FILES = {"visits.csv", "manifest.csv"}


@dataclass(frozen=True)
class PhotoItem:
    """One input photo. ``region`` is canonical (or "" when unknown, with ``error`` set)."""

    patient_id: str
    visit_id: str
    region: str
    view: str
    path: Path  # absolute
    rel_path: str  # POSIX path relative to the visits folder
    error: str = ""


@dataclass
class VisitsLayout:
    """Everything discovered in a visits folder."""

    root: Path
    photos: list[PhotoItem]
    visit_order: dict[str, list[str]]  # patient_id -> visit_ids, baseline first
    visit_meta: pd.DataFrame  # one row per (patient_id, visit_id): date, visit_index + PRO columns
    pro_columns: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # non-image files ignored (relative paths)


def natural_key(s: str) -> tuple:
    """Sort key that orders ``v2`` before ``v10`` and ``week4`` before ``week12``."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", s) if t != "")


def parse_stem(stem: str, regions: RegionsConfig) -> tuple[str, str] | None:
    """Split a file stem into (canonical region, view); None if no prefix names a known region. ``palm[_view]`` is the
    hand-unit photo: region :data:`~vitiseg.config.PALM`."""
    tokens = stem.split("_")
    if tokens[0].lower() == PALM:
        return PALM, "_".join(tokens[1:])
    for i in range(1, len(tokens) + 1):
        region = regions.resolve("_".join(tokens[:i]))
        if region is not None:
            return region, "_".join(tokens[i:])
    return None


def _scan_convention(root: Path, regions: RegionsConfig) -> tuple[list[PhotoItem], list[str]]:
    photos: list[PhotoItem] = []
    skipped: list[str] = []
    for p in sorted(root.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if len(rel.parts) == 1 and rel.name in RESERVED_FILES:
            continue
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append(rel.as_posix())
            continue
        if len(rel.parts) != 3:
            photos.append(
                PhotoItem("", "", "", "", p, rel.as_posix(),
                          error=f"photo not at <patient_id>/<visit_id>/<region>.<ext> (found depth {len(rel.parts)})")
            )
            continue
        patient, visit, name = rel.parts
        parsed = parse_stem(Path(name).stem, regions)
        if parsed is None:
            known = ", ".join(regions.regions)
            photos.append(PhotoItem(patient, visit, "", "", p, rel.as_posix(),
                                    error=f"unknown body region in file name {name!r}; expected one of {known} "
                                          "or an alias from the regions config"))
            continue
        region, view = parsed
        photos.append(PhotoItem(patient, visit, region, view, p, rel.as_posix()))
    return photos, skipped


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path.name} is missing column(s) {missing}; has {list(df.columns)}")
    return df


def _scan_manifest(root: Path, regions: RegionsConfig) -> list[PhotoItem]:
    df = _read_csv(root / "manifest.csv", ["path", "patient_id", "visit_id", "region"])
    photos = []
    for row in df.itertuples(index=False):
        p = (root / row.path).resolve()
        region = PALM if row.region.strip().lower() == PALM else regions.resolve(row.region)
        view = getattr(row, "view", "") or ""
        err = "" if region is not None else f"unknown body region {row.region!r} in manifest.csv"
        photos.append(PhotoItem(row.patient_id, row.visit_id, region or "", view, p, Path(row.path).as_posix(), err))
    return photos


def discover(root: str | Path, regions: RegionsConfig) -> VisitsLayout:
    """Find every photo in a visits folder and the visit order per patient (baseline first)."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"visits folder not found: {root}")
    skipped: list[str] = []
    if (root / "manifest.csv").is_file():
        photos = _scan_manifest(root, regions)
    else:
        photos, skipped = _scan_convention(root, regions)
    for s in skipped:
        log.warning("ignoring non-image file %s", s)

    if (root / "visits.csv").is_file():
        meta = _read_csv(root / "visits.csv", ["patient_id", "visit_id"])
    else:
        meta = pd.DataFrame(columns=["patient_id", "visit_id"])
    if "date" not in meta.columns:
        meta["date"] = ""
    pro_columns = [c for c in meta.columns if c not in ("patient_id", "visit_id", "date")]

    # every (patient, visit) seen in photos or in visits.csv
    pairs = {(p.patient_id, p.visit_id) for p in photos if p.patient_id}
    pairs |= set(zip(meta["patient_id"], meta["visit_id"]))
    dates = {(r.patient_id, r.visit_id): r.date for r in meta.itertuples(index=False)}
    order: dict[str, list[str]] = {}
    for patient in sorted({p for p, _ in pairs}, key=natural_key):
        visits = [v for q, v in pairs if q == patient]
        have_dates = all(dates.get((patient, v), "") for v in visits)
        if have_dates:
            visits.sort(key=lambda v: (pd.Timestamp(dates[(patient, v)]), natural_key(v)))
        else:
            visits.sort(key=natural_key)
        order[patient] = visits
    rows = []
    for patient, visits in order.items():
        for i, v in enumerate(visits):
            m = meta[(meta["patient_id"] == patient) & (meta["visit_id"] == v)]
            row = {"patient_id": patient, "visit_id": v, "visit_index": i, "date": dates.get((patient, v), "")}
            for c in pro_columns:
                row[c] = m[c].iloc[0] if len(m) else ""
            rows.append(row)
    visit_meta = pd.DataFrame(rows, columns=["patient_id", "visit_id", "visit_index", "date", *pro_columns])
    return VisitsLayout(root, photos, order, visit_meta, pro_columns, skipped)
