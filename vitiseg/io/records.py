"""Per-photo resume records of a run folder: ``OUT/.records/<input path>.json``.

A record is written (atomically) after a photo's mask and overlay, and holds its photos.csv row with the keys it was
made under: record format version, run-config fingerprint, model key and the face views of its visit. A re-run reuses
a record only when all of those match, the input file's SHA-256 is unchanged and every output file it names exists;
anything else (missing, unreadable, stale) means the photo is redone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .files import atomic_write_text, sha256_file

RECORD_VERSION = 3  # 2: ICC profiles converted to sRGB on reading; 3: uncertain_share column
OUTPUT_COLUMNS = ("mask", "overlay", "face_area")


@dataclass(frozen=True)
class RecordKey:
    """What a photo's result depends on besides its own bytes."""

    config: str  # run-config fingerprint
    model: str  # segmenter resume key
    face_views: tuple[str, ...] = ()  # sorted face views of the photo's visit (face photos only)


def record_path(out_dir: Path, rel_path: str) -> Path:
    """Where the record of the input ``rel_path`` (POSIX, relative to the visits folder) lives."""
    return out_dir / ".records" / (rel_path + ".json")


def load_record(out_dir: Path, rel_path: str, input_path: Path, key: RecordKey) -> dict[str, Any] | None:
    """The saved photos.csv row of ``rel_path`` if it is still valid for ``key`` and the input's bytes, else None."""
    p = record_path(out_dir, rel_path)
    if not p.is_file():
        return None
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    if (rec.get("record_version") != RECORD_VERSION or rec.get("config") != key.config
            or rec.get("model") != key.model or rec["row"].get("status") != "ok"
            or rec.get("face_views") != list(key.face_views)):
        return None
    if rec["row"].get("sha256") != sha256_file(input_path):
        return None
    for col in OUTPUT_COLUMNS:
        if rec["row"].get(col) and not (out_dir / rec["row"][col]).is_file():
            return None
    return rec["row"]


def save_record(out_dir: Path, rel_path: str, key: RecordKey, row: dict[str, Any]) -> None:
    """Write the record of one finished photo."""
    rec = {"record_version": RECORD_VERSION, "config": key.config, "model": key.model,
           "face_views": list(key.face_views), "row": row}
    atomic_write_text(record_path(out_dir, rel_path), json.dumps(rec, sort_keys=True))
