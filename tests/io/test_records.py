"""Resume records: reused only for the same input bytes, config, model, face views and photo identity, with every
output present; always inside OUT/.records/; a corrupted or foreign record is redone with a warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_record_paths_never_leave_the_records_folder(tmp_path: Path) -> None:
    """pathlib's join drops OUT for an absolute second part: a record of '/data/x.jpg' went to /data/x.jpg.json."""
    out = tmp_path / "out"
    for bad in ("/tmp/elsewhere/x.jpg", "../../x.jpg", "P1/../../x.jpg"):
        with pytest.raises(ValueError, match="not a relative path inside"):
            record_path(out, bad)
        with pytest.raises(ValueError):
            save_record(out, bad, RecordKey("c", "m"), {"path": bad, "status": "ok"})
    assert not list(tmp_path.rglob("*.json"))


@pytest.mark.parametrize("content, why", [
    (b"{not json", "unreadable"),
    (b"\xff\xfe\x00garbage", "unreadable"),
    (b"[1, 2, 3]", "is not a vitiseg record"),
    (b'{"row": "x", "config": "cfg"}', "is not a vitiseg record"),
    (None, "the record of another photo ('P9/v1/face.png')"),
    ("overlay", "its overlay path '../../../etc/passwd' is not a file of the run folder"),
])
def test_a_corrupted_or_foreign_record_is_redone_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                content, why: str) -> None:
    out, photo, key, row = _setup(tmp_path)
    p = record_path(out, "P1/v1/face.png")
    rec = json.loads(p.read_text())
    if content is None:
        rec["row"]["path"] = "P9/v1/face.png"
        content = json.dumps(rec).encode()
    elif content == "overlay":
        rec["row"]["overlay"] = "../../../etc/passwd"
        content = json.dumps(rec).encode()
    p.write_bytes(content)
    with caplog.at_level("WARNING", logger="vitiseg.io.records"):
        assert load_record(out, "P1/v1/face.png", photo, key) is None
    assert len(caplog.records) == 1
    msg = caplog.records[0].getMessage()
    assert msg.startswith(f"P1/v1/face.png: resume record {p} ") and why in msg and msg.endswith("the photo is redone")


def test_a_stale_record_is_redone_quietly_and_a_changed_identity_is_stale(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    out, photo, key, row = _setup(tmp_path)
    with caplog.at_level("WARNING", logger="vitiseg.io.records"):
        assert load_record(out, "P1/v1/face.png", photo, RecordKey("other", "model", key.face_views)) is None
    assert caplog.records == []  # another config is ordinary, not suspicious
    full = {**row, "patient_id": "P1", "visit_id": "v1", "region": "face", "view": ""}
    save_record(out, "P1/v1/face.png", key, full)
    same = {"patient_id": "P1", "visit_id": "v1", "region": "face", "view": ""}
    assert load_record(out, "P1/v1/face.png", photo, key, same) == full
    # manifest.csv now assigns the same file to another patient: the old row must not be reused
    assert load_record(out, "P1/v1/face.png", photo, key, {**same, "patient_id": "P2"}) is None
