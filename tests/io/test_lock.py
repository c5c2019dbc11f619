"""The run lock of an output folder: a second process is refused with the holder named; a killed holder leaves no
stale lock; the lock is re-entrant within a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from vitiseg.io.files import OutputWriteError
from vitiseg.io.lock import LOCK_NAME, RunLocked, run_lock

HOLD = """
import sys, time
from vitiseg.io.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _holder(out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    assert p.stdout is not None and p.stdout.readline().strip() == "held"
    return p


def test_a_second_process_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    out = tmp_path / "out"
    p = _holder(out)
    try:
        with pytest.raises(RunLocked, match=rf"another vitiseg run is writing to {out} \(pid {p.pid} on "):
            with run_lock(out):
                pass
    finally:
        p.send_signal(signal.SIGKILL)  # no clean-up runs in the holder
        p.wait()
    assert (out / LOCK_NAME).is_file()  # the file stays; the lock went with the process
    with run_lock(out):
        assert f"pid {os.getpid()} " in (out / LOCK_NAME).read_text()


def test_the_lock_is_reentrant_in_one_process_and_released_after(tmp_path: Path) -> None:
    with run_lock(tmp_path / "o"):
        with run_lock(tmp_path / "o"):  # the caller holds it already (run_command, then run): no deadlock
            pass
    p = _holder(tmp_path / "o")  # released: another process can take it
    p.send_signal(signal.SIGKILL)
    p.wait()
    p2 = _holder(tmp_path / "o")
    try:
        with pytest.raises(RunLocked):
            with run_lock(tmp_path / "o"):
                pass
    finally:
        p2.send_signal(signal.SIGKILL)
        p2.wait()


def test_an_unwritable_output_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def refuse(path, *a, **k):
        if str(path).endswith(LOCK_NAME):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **k)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(OutputWriteError, match=rf"cannot write {tmp_path}/{LOCK_NAME}: Permission denied; free space"):
        with run_lock(tmp_path):
            pass
