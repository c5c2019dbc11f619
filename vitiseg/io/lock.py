"""One run at a time per output folder: an exclusive ``flock`` on ``OUT/.vitiseg.lock``.

Two ``vitiseg run`` writing the same folder would interleave records and tables; the second one refuses with
:class:`RunLocked`, which names the process holding the folder. The operating system releases the lock when the
holding process ends, however it ends (SIGKILL, a crash, a power cut of a remote client), so a lock is never stale:
the file stays, the lock does not. The lock is re-entrant within a process (``run_command`` and the ``run`` it calls
both hold it). Works on local file systems and on NFS (Linux emulates ``flock`` with NFS byte-range locks).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .files import OutputWriteError

LOCK_NAME = ".vitiseg.lock"
_held: dict[str, int] = {}  # resolved folder -> re-entry depth in this process



class RunLocked(RuntimeError):
    """Another live process holds the output folder."""


@contextmanager
def run_lock(out_dir: str | Path) -> Iterator[Path]:
    """Hold the run lock of ``out_dir`` (created if needed) for the ``with`` block; yields the lock file's path.

    Raises :class:`RunLocked` when another process holds it and :class:`~.files.OutputWriteError` when the folder
    cannot be written."""
    out = Path(out_dir).resolve()
    key = str(out)
    path = out / LOCK_NAME
    if _held.get(key):
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown process"
            raise RunLocked(f"another vitiseg run is writing to {out} ({holder}); wait for it to finish or use "
                            "another --out") from None
        stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}\n".encode(), 0)
        _held[key] = 1
        try:
            yield path
        finally:
            del _held[key]
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
