"""Atomic writes that fail (disk full) leave the old file and no temporary; paths stay inside their folder; the
temporary files of a killed run are found and removed."""

from __future__ import annotations

import errno
import os
import pickle
from pathlib import Path

import pytest

from vitiseg.io.files import OutputWriteError, atomic_write_text, remove_stale_temporaries, safe_join


def test_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    atomic_write_text(tmp_path / "t.csv", "old\n")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OutputWriteError) as e:
        atomic_write_text(tmp_path / "t.csv", "new\n")
    assert e.value.errno == errno.ENOSPC and isinstance(e.value, OSError)
    assert str(e.value) == (f"cannot write {tmp_path / 't.csv'}: No space left on device; free space or fix the "
                            "folder's permissions, then run the same command again to resume")
    assert os.listdir(tmp_path) == ["t.csv"] and (tmp_path / "t.csv").read_text() == "old\n"
    again = pickle.loads(pickle.dumps(e.value))  # as a worker process hands it to the main one
    assert (str(again), again.errno) == (str(e.value), errno.ENOSPC)


def test_safe_join_refuses_paths_that_leave_the_folder(tmp_path: Path) -> None:
    assert safe_join(tmp_path, "P1/v1/face.png.json") == tmp_path / "P1" / "v1" / "face.png.json"
    assert safe_join(tmp_path, "P1/./x/../face.png") == tmp_path / "P1" / "face.png"
    for bad in ("/etc/x.json", "../x.json", "a/../../x.json", "..", ".", "", "a\0b"):
        with pytest.raises(ValueError, match="not a relative path inside"):
            safe_join(tmp_path, bad)


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path: Path) -> None:
    keep = ["photos.csv", ".vitiseg.lock", "masks/P1/face.png", ".records/P1/face.png.json", "notes.tmp"]
    stale = [".photos.csv.k2j3.tmp", "masks/P1/.face.png.a1b2.tmp", ".vitiseg.x9.sqlite.tmp",
             ".vitiseg.x9.sqlite.tmp-journal", ".records/P1/.face.png.json.zz.tmp"]
    for rel in keep + stale:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x")
    assert remove_stale_temporaries(tmp_path) == sorted(tmp_path / s for s in stale)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == sorted(keep)
