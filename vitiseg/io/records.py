"""Per-photo resume records of a run folder: ``OUT/.records/<input path>.json``.

A record is written (atomically) after a photo's mask and overlay, and holds its photos.csv row with the keys it was
made under: record format version, run-config fingerprint, model key and the face views of its visit. A re-run reuses
a record only when all of those match, the row is the one of this photo (same path, patient, visit, region and view),
the input file's SHA-256 is unchanged and every output file it names exists inside the run folder; anything else
(missing, stale) means the photo is redone. A record that is not a vitiseg record at all (unreadable, not JSON, JSON of
another shape, another photo's row, output paths outside the run folder) is redone too, with a warning: something
other than vitiseg wrote it. Record paths always stay inside ``OUT/.records/``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..faults import fault_point
from .files import atomic_write_text, safe_join, sha256_file

log = logging.getLogger(__name__)

RECORD_VERSION = 3  # 2: ICC profiles converted to sRGB on reading; 3: uncertain_share column
OUTPUT_COLUMNS = {"mask": "masks/", "overlay": "overlays/", "face_area": "face_area/"}  # column -> folder
IDENTITY_COLUMNS = ("patient_id", "visit_id", "region", "view")


@dataclass(frozen=True)
class RecordKey:
    """What a photo's result depends on besides its own bytes."""

    config: str  # run-config fingerprint
    model: str  # segmenter resume key
    face_views: tuple[str, ...] = ()  # sorted face views of the photo's visit (face photos only)


def record_path(out_dir: Path, rel_path: str) -> Path:
    """Where the record of the input ``rel_path`` (POSIX, relative to the visits folder) lives; ValueError for a path
    that would leave ``OUT/.records/`` (absolute, or climbing out with ``..``)."""
    return safe_join(out_dir / ".records", rel_path + ".json")


def _foreign(rec: Any, rel_path: str, out_dir: Path) -> str:
    """Why ``rec`` is not a record vitiseg wrote for ``rel_path`` ("" when it is one)."""
    if not isinstance(rec, dict) or not isinstance(rec.get("row"), dict):
        return "not a vitiseg record"
    if not isinstance(rec.get("face_views"), list) or not all(isinstance(rec.get(k), str) for k in ("config", "model")):
        return "not a vitiseg record"
    row = rec["row"]
    if row.get("path") != rel_path:
        return f"the record of another photo ({row.get('path')!r})"
    for col, folder in OUTPUT_COLUMNS.items():
        v = row.get(col, "")
        if v:
            try:
                if not (isinstance(v, str) and v.startswith(folder)):
                    raise ValueError(v)
                safe_join(out_dir, v)
            except ValueError:
                return f"its {col} path {v!r} is not a file of the run folder"
    return ""


def load_record(out_dir: Path, rel_path: str, input_path: Path, key: RecordKey,
                identity: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The saved photos.csv row of ``rel_path`` if it is still valid for ``key``, the input's bytes and ``identity``
    (expected patient_id, visit_id, region, view), else None (the photo is redone)."""
    p = record_path(out_dir, rel_path)
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: resume record %s unreadable (%s); the photo is redone", rel_path, p, exc)
        return None
    why = _foreign(rec, rel_path, out_dir)
    if why:
        log.warning("%s: resume record %s is %s; the photo is redone", rel_path, p, why)
        return None
    row = rec["row"]
    if (rec.get("record_version") != RECORD_VERSION or rec.get("config") != key.config
            or rec.get("model") != key.model or row.get("status") != "ok"
            or rec.get("face_views") != list(key.face_views)):
        return None
    if identity and any(row.get(k) != v for k, v in identity.items()):
        return None
    if row.get("sha256") != sha256_file(input_path):
        return None
    for col in OUTPUT_COLUMNS:
        if row.get(col) and not (out_dir / row[col]).is_file():
            return None
    return row


def save_record(out_dir: Path, rel_path: str, key: RecordKey, row: dict[str, Any]) -> None:
    """Write the record of one finished photo."""
    rec = {"record_version": RECORD_VERSION, "config": key.config, "model": key.model,
           "face_views": list(key.face_views), "row": row}
    path = record_path(out_dir, rel_path)
    fault_point("record", rel_path)
    atomic_write_text(path, json.dumps(rec, sort_keys=True))
