"""Resume records: reused only for the same input bytes, config, model and face views, with every output present."""

from __future__ import annotations

import json
from pathlib import Path

from vitiseg.io.files import sha256_file
from vitiseg.io.records import RECORD_VERSION, RecordKey, load_record, record_path, save_record


def _setup(tmp_path: Path) -> tuple[Path, Path, RecordKey, dict]:
    out = tmp_path / "out"
    photo = tmp_path / "in" / "P1" / "v1" / "face.png"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"photo bytes")
    (out / "masks" / "P1" / "v1").mkdir(parents=True)
    (out / "masks" / "P1" / "v1" / "face.png").write_bytes(b"mask")
    row = {"path": "P1/v1/face.png", "sha256": sha256_file(photo), "status": "ok", "mask": "masks/P1/v1/face.png",
           "overlay": "", "skin_px": 10}
    key = RecordKey("cfg", "model", ("front", "left"))
    save_record(out, "P1/v1/face.png", key, row)
    return out, photo, key, row


def test_record_round_trip_and_file_format(tmp_path: Path) -> None:
    out, photo, key, row = _setup(tmp_path)
    p = record_path(out, "P1/v1/face.png")
    assert p == out / ".records" / "P1" / "v1" / "face.png.json"
    assert json.loads(p.read_text()) == {"record_version": RECORD_VERSION, "config": "cfg", "model": "model",
                                         "face_views": ["front", "left"], "row": row}
    assert load_record(out, "P1/v1/face.png", photo, key) == row


def test_record_is_not_reused_when_anything_changed(tmp_path: Path) -> None:
    out, photo, key, row = _setup(tmp_path)
    assert load_record(out, "P1/v1/face.png", photo, RecordKey("cfg2", "model", key.face_views)) is None
    assert load_record(out, "P1/v1/face.png", photo, RecordKey("cfg", "model2", key.face_views)) is None
    assert load_record(out, "P1/v1/face.png", photo, RecordKey("cfg", "model", ("front",))) is None
    assert load_record(out, "P1/v2/face.png", photo, key) is None  # no record
    (out / "masks" / "P1" / "v1" / "face.png").unlink()  # an output the row names is gone
    assert load_record(out, "P1/v1/face.png", photo, key) is None
    (out / "masks" / "P1" / "v1" / "face.png").write_bytes(b"mask")
    photo.write_bytes(b"other photo bytes")  # the input changed
    assert load_record(out, "P1/v1/face.png", photo, key) is None
    record_path(out, "P1/v1/face.png").write_text("{not json")
    assert load_record(out, "P1/v1/face.png", photo, key) is None
