"""Crashes and a hostile environment: a full disk or unwritable run folder is one clear line (exit 2) and loses
nothing; a second run on the same folder is refused; a run killed with SIGKILL resumes to the same tables.
(``scripts/chaos.py`` kills a 60-photo run at 20 points; this is the fast version.)"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import KeySegmenter

from vitiseg.cli import main as cli_main
from vitiseg.config import load_config
from vitiseg.io.files import OutputWriteError
from vitiseg.io.lock import run_lock
from vitiseg.pipeline import run as run_mod
from vitiseg.pipeline.run import run

CFG = load_config(overrides={"face": {"area": "skin"}, "report": False})
TABLES = ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv", "failures.csv", "vitiseg.sqlite")


def _tables(out: Path) -> dict[str, bytes]:
    return {t: (out / t).read_bytes() for t in TABLES}


def _leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.rglob("*") if ".tmp" in p.name)


def _full_after(n: int):
    """An ``os.fsync`` that reports a full disk from its ``n``-th call on."""
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] >= n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    return fsync


def test_a_full_disk_stops_the_run_cleanly_and_the_next_run_resumes(visits_dir: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    clean = tmp_path / "clean"
    run(visits_dir, clean, CFG, segmenter=KeySegmenter(), progress=False)
    out = tmp_path / "out"
    monkeypatch.setattr(os, "fsync", _full_after(8))  # photo 1: mask, overlay, record; ... photo 3: overlay fails
    with pytest.raises(OutputWriteError, match=r"^cannot write .*/overlays/P01/v1/trunk.jpg: No space left on device"):
        run(visits_dir, out, CFG, segmenter=KeySegmenter(), progress=False)
    assert _leftovers(out) == []
    records = sorted(out.rglob("*.json"))
    assert [p.relative_to(out / ".records").as_posix() for p in records] == ["P01/v1/face.png.json",
                                                                             "P01/v1/hands.png.json"]
    assert all(json.loads(p.read_text())["row"]["status"] == "ok" for p in records)  # no half-written record
    assert not (out / "photos.csv").exists()  # no table from a run that did not finish
    monkeypatch.undo()
    s = run(visits_dir, out, CFG, segmenter=KeySegmenter(), progress=False)
    assert s["counts"]["reused"] == 2 and s["counts"]["ok"] == 10
    assert _tables(out) == _tables(clean)


def test_full_disk_and_unwritable_folder_are_one_line_and_exit_2(visits_dir: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(run_mod, "load_segmenter_checked", lambda *a, **k: KeySegmenter())
    monkeypatch.setattr(run_mod, "thread_safe", lambda cfg: False)  # one photo at a time: a fixed order
    args = ["run", str(visits_dir), "--out", str(tmp_path / "out"), "--face-area", "skin", "--no-report",
            "--no-progress"]
    monkeypatch.setattr(os, "fsync", _full_after(1))
    with caplog.at_level("ERROR"):
        assert cli_main(args) == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and errors[0].exc_info is None
    assert errors[0].getMessage() == (f"cannot write {tmp_path}/out/masks/P01/v1/face.png: No space left on device; "
                                      "free space or fix the folder's permissions, then run the same command again "
                                      "to resume")
    monkeypatch.undo()
    monkeypatch.setattr(run_mod, "load_segmenter_checked", lambda *a, **k: KeySegmenter())
    monkeypatch.setattr(run_mod, "thread_safe", lambda cfg: False)  # one photo at a time: a fixed order
    real_open = os.open

    def read_only(path, flags, *a, **k):  # a read-only mount or a folder of another user
        if str(path).startswith(str(tmp_path / "ro")) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", read_only)
    caplog.clear()
    with caplog.at_level("ERROR"):
        assert cli_main([*args[:3], str(tmp_path / "ro"), *args[4:]]) == 2
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
        f"cannot write {tmp_path}/ro/.vitiseg.lock: Read-only file system; free space or fix the folder's "
        "permissions, then run the same command again to resume"]


def test_a_second_run_on_the_same_folder_is_refused(visits_dir: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(run_mod, "load_segmenter_checked", lambda *a, **k: KeySegmenter())
    monkeypatch.setattr(run_mod, "thread_safe", lambda cfg: False)  # one photo at a time: a fixed order
    out = tmp_path / "out"
    hold = "import sys, time\nfrom vitiseg.io.lock import run_lock\nwith run_lock(sys.argv[1]):\n" \
           "    print('held', flush=True)\n    time.sleep(600)\n"
    p = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    try:
        assert p.stdout is not None and p.stdout.readline().strip() == "held"
        with caplog.at_level("ERROR"):
            assert cli_main(["run", str(visits_dir), "--out", str(out), "--face-area", "skin", "--no-progress"]) == 2
        assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == [
            f"another vitiseg run is writing to {out} (pid {p.pid} on {os.uname().nodename}, since "
            f"{(out / '.vitiseg.lock').read_text().split('since ')[1].strip()}); wait for it to finish or use another "
            "--out"]
        assert not (out / "run.log").exists() and not (out / ".records").exists()  # nothing of the running one touched
        with pytest.raises(RuntimeError, match="another vitiseg run"):
            run(visits_dir, out, CFG, segmenter=KeySegmenter(), progress=False)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert run(visits_dir, out, CFG, segmenter=KeySegmenter(), progress=False)["counts"]["ok"] == 10  # not stale
    with run_lock(out):  # the caller may hold the lock itself (vitiseg run does)
        assert run(visits_dir, out, CFG, segmenter=KeySegmenter(), progress=False)["counts"]["reused"] == 10


def _vitiseg(visits: Path, out: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("VITISEG_FAULT", None)
    if fault:
        env["VITISEG_FAULT"] = fault
    return subprocess.run([sys.executable, "-m", "vitiseg", "run", str(visits), "--out", str(out), "--model",
                           "classical", "--face-area", "skin", "--no-report", "--no-progress"],
                          env=env, capture_output=True, text=True, timeout=300)


def test_sigkill_in_the_middle_of_a_write_then_resume(visits_dir: Path, tmp_path: Path) -> None:
    """Killed inside the 6th atomic write (photo 2's record: its temporary file complete, not renamed)."""
    clean = tmp_path / "clean"
    assert _vitiseg(visits_dir, clean).returncode == 1  # the classical baseline finds no skin on 3 test photos
    out = tmp_path / "out"
    killed = _vitiseg(visits_dir, out, "tmp:6")
    assert killed.returncode == -signal.SIGKILL
    assert len(_leftovers(out)) == 1 and _leftovers(out)[0].startswith(".hands.png.json.")
    resumed = _vitiseg(visits_dir, out)
    assert resumed.returncode == 1
    summary = json.loads((out / "run.json").read_text())
    assert summary["counts"]["reused"] == 1  # photo 1; photo 2 had no record yet, so it was redone
    assert "removed .records/P01/v1/.hands.png.json." in resumed.stderr and _leftovers(out) == []
    assert _tables(out) == _tables(clean)
    masks = sorted(p.relative_to(out) for p in (out / "masks").rglob("*.png"))
    assert masks and all((out / m).read_bytes() == (clean / m).read_bytes() for m in masks)
