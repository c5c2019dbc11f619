"""Discovery of a visits folder: which photo belongs to which patient, visit and body region.

Convention: ``VISITS/<patient_id>/<visit_id>/<region>[_<view>].<jpg|jpeg|png|tif|tiff|heic|heif>`` (a ``.gif``
there is an error for that photo, see :data:`~.images.REFUSED_SUFFIXES`). The region
token is the shortest ``_``-separated prefix of the file stem that names a region or alias of the regions config
(``vitiseg/defaults/regions.yaml``) (``hand_dorsal`` -> region ``hands``, view ``dorsal``; ``face_left`` -> ``face``,
view ``left``). An unknown region is an error for that photo, never a guess. Hidden files and folders (``.name``) are
ignored; symbolic links are followed, a link loop (a folder inside itself) is reported and not followed, and a broken
link with a photo's name is an error for that photo. A file named ``palm[_<view>]`` is the visit's hand-unit photo
(region :data:`vitiseg.config.PALM`, measured by :mod:`vitiseg.calibration.hand_unit`, not scored).

Optional ``VISITS/manifest.csv`` (path, patient_id, visit_id, region[, view]) replaces the folder convention. Its
paths must be relative to the visits folder and stay inside it: an absolute path or one that climbs out with ``..``
is refused (an error for that row), so a manifest can never make vitiseg read an image elsewhere on the machine or
write beside it. Optional ``VISITS/visits.csv`` (patient_id, visit_id, date, plus any patient-reported outcome
columns) gives visit dates and order (see :mod:`.visit_sheets`); otherwise visits are ordered by natural sort of
visit_id. The first visit is the baseline.

With a :class:`~.pseudonym.Pseudonymiser`, patient IDs and the photos' relative paths are replaced by their
pseudonyms here, at the source, so nothing downstream (tables, records, file paths, log lines) sees the originals.
"""

from __future__ import annotations

import logging
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import PALM, RegionsConfig
from .images import IMAGE_SUFFIXES, REFUSED_SUFFIXES
from .pseudonym import Pseudonymiser, safe_component
from .visit_sheets import LayoutError, clean_visits, is_date, read_sheet

__all__ = ["LayoutError", "PhotoItem", "VisitsLayout", "discover", "natural_key", "parse_stem"]

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
    rel_path: str  # POSIX path relative to the visits folder (its pseudonym in a pseudonymised run)
    error: str = ""


@dataclass
class VisitsLayout:
    """Everything discovered in a visits folder."""

    root: Path
    photos: list[PhotoItem]
    visit_order: dict[str, list[str]]  # patient_id -> visit_ids, baseline first
    visit_meta: pd.DataFrame  # one row per (patient_id, visit_id): date, visit_index + PRO columns
    pro_columns: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # non-image files and link loops ignored (relative paths)


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


def _walk(root: Path) -> list[tuple[Path, str]]:
    """Entries under ``root`` in sorted depth-first order, each ``(path, kind)`` with kind ``file``, ``broken`` (a
    dangling or self-referring link) or ``loop`` (a link to a folder that contains it, not followed); hidden names
    are skipped and links to folders followed."""
    found: list[tuple[Path, str]] = []

    def visit(d: Path, ancestors: frozenset[tuple[int, int]]) -> None:
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError as exc:
            log.warning("folder %s not readable (%s); its photos are not included", d, exc.strerror)
            return
        for e in entries:
            if e.name.startswith("."):
                continue
            p = Path(e.path)
            try:
                st = p.stat()  # follows links; a loop or a dangling link raises
            except OSError:
                found.append((p, "broken"))
                continue
            if e.is_dir():
                ident = (st.st_dev, st.st_ino)
                if ident in ancestors:
                    found.append((p, "loop"))
                else:
                    visit(p, ancestors | {ident})
            elif e.is_file():
                found.append((p, "file"))

    top = root.stat()
    visit(root, frozenset({(top.st_dev, top.st_ino)}))
    return found


def _scan_convention(root: Path, regions: RegionsConfig, ps: Pseudonymiser | None
                     ) -> tuple[list[PhotoItem], list[str]]:
    def public(rel: str) -> str:  # the path the outputs use: the patient folder replaced by its pseudonym
        if ps is None:
            return rel
        parts = rel.split("/")
        if len(parts) < 2:
            return ps.unassigned(rel)
        return ps.record_path(rel, "/".join([ps.patient(parts[0]), *parts[1:]]))

    def pid(name: str) -> str:
        return ps.patient(name) if ps else name

    photos: list[PhotoItem] = []
    skipped: list[str] = []
    for p, kind in _walk(root):
        rel = p.relative_to(root)
        suffix = p.suffix.lower()
        is_photo = suffix in IMAGE_SUFFIXES or suffix in REFUSED_SUFFIXES
        if kind == "loop":
            log.warning("%s: symbolic link loop (a folder inside itself); not followed", public(rel.as_posix()))
            skipped.append(public(rel.as_posix()))
            continue
        if len(rel.parts) == 1 and rel.name in RESERVED_FILES:
            continue
        if not is_photo:
            skipped.append(public(rel.as_posix()))
            continue
        if kind == "broken":
            photos.append(PhotoItem("", "", "", "", p, public(rel.as_posix()), error="broken or looping symbolic link"))
            continue
        if len(rel.parts) != 3:
            photos.append(PhotoItem("", "", "", "", p, public(rel.as_posix()),
                                    error=f"photo not at <patient_id>/<visit_id>/<region>.<ext> (found depth {len(rel.parts)})"))
            continue
        patient, visit, name = rel.parts
        parsed = parse_stem(Path(name).stem, regions)
        if parsed is None:
            known = ", ".join(regions.regions)
            photos.append(PhotoItem(pid(patient), visit, "", "", p, public(rel.as_posix()),
                                    error=f"unknown body region in file name {name!r}; expected one of {known} "
                                          "or an alias from the regions config"))
            continue
        region, view = parsed
        photos.append(PhotoItem(pid(patient), visit, region, view, p, public(rel.as_posix()),
                                error=REFUSED_SUFFIXES.get(suffix, "")))
    return photos, sorted(skipped)


def manifest_path_error(text: str) -> str:
    """Why a manifest path is refused ("" when it is a relative path inside the visits folder)."""
    if not text:
        return "empty path in manifest.csv"
    if posixpath.isabs(text) or "\0" in text:
        return f"absolute path {text!r} in manifest.csv refused: paths must be relative to the visits folder"
    norm = posixpath.normpath(text)
    if norm == ".." or norm.startswith("../"):
        return f"path {text!r} in manifest.csv leads outside the visits folder: refused"
    return ""


def _scan_manifest(root: Path, regions: RegionsConfig, ps: Pseudonymiser | None) -> list[PhotoItem]:
    df = read_sheet(root / "manifest.csv", ["path", "patient_id", "visit_id", "region"])
    photos = []
    seen: dict[str, int] = {}
    used: dict[str, int] = {}
    for row in df.itertuples(index=False):
        text = row.path.strip()
        view = (getattr(row, "view", "") or "").strip()
        region = PALM if row.region.strip().lower() == PALM else regions.resolve(row.region)
        err = manifest_path_error(text)
        rel = posixpath.normpath(text) if not err else text
        if not err and rel in seen:
            err = f"{text!r} is listed more than once in manifest.csv"
        seen[rel] = seen.get(rel, 0) + 1
        if not err and not (row.patient_id.strip() and row.visit_id.strip()):
            err = "manifest.csv row without patient_id or visit_id"
        if not err and region is None:
            err = f"unknown body region {row.region!r} in manifest.csv"
        public = rel
        if ps is not None:  # built from the manifest's fields: the input's own name may hold anything
            if row.patient_id.strip():
                stem = f"{ps.patient(row.patient_id)}/{safe_component(row.visit_id)}/{region or 'photo'}"
                stem += f"_{safe_component(view)}" if view else ""
                used[stem] = used.get(stem, 0) + 1
                stem += f"-{used[stem]}" if used[stem] > 1 else ""
                public = ps.record_path(rel, stem + posixpath.splitext(rel)[1].lower())
            else:
                public = ps.unassigned(rel)
        pid = ps.patient(row.patient_id) if ps else row.patient_id
        path = root / rel if not err else root
        photos.append(PhotoItem(pid, row.visit_id, region or "", view, path, public, err))
    return photos


def discover(root: str | Path, regions: RegionsConfig, pseudonymiser: Pseudonymiser | None = None) -> VisitsLayout:
    """Find every photo in a visits folder and the visit order per patient (baseline first).

    Raises FileNotFoundError for a missing folder and :class:`LayoutError` for an unusable manifest.csv/visits.csv."""
    root = Path(root).resolve()
    if not root.is_dir():
        raise FileNotFoundError(f"visits folder not found: {root}")
    ps = pseudonymiser
    skipped: list[str] = []
    if (root / "manifest.csv").is_file():
        photos = _scan_manifest(root, regions, ps)
    else:
        photos, skipped = _scan_convention(root, regions, ps)
    for s in skipped:
        log.warning("ignoring non-image file %s", s)

    if (root / "visits.csv").is_file():
        meta = clean_visits(read_sheet(root / "visits.csv", ["patient_id", "visit_id"]), ps.patient if ps else None)
    else:
        meta = pd.DataFrame(columns=["patient_id", "visit_id", "date"])
    pro_columns = [c for c in meta.columns if c not in ("patient_id", "visit_id", "date")]

    # every (patient, visit) seen in photos or in visits.csv
    pairs = {(p.patient_id, p.visit_id) for p in photos if p.patient_id}
    pairs |= set(zip(meta["patient_id"], meta["visit_id"]))
    dates = {(r.patient_id, r.visit_id): r.date for r in meta.itertuples(index=False)}
    order: dict[str, list[str]] = {}
    for patient in sorted({p for p, _ in pairs}, key=natural_key):
        visits = [v for q, v in pairs if q == patient]
        if all(is_date(dates.get((patient, v), "")) for v in visits):
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
