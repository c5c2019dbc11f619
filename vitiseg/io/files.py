"""Files written by vitiseg: atomic writes (a reader sees the old file or the new one, never half), SHA-256, paths
kept inside an output folder, and the clean-up of temporary files a killed run left behind.

Outputs get the usual permissions (``0666`` minus the process umask), not the ``0600`` of a temporary file. A write
that fails (disk full, read-only or unwritable folder) raises :class:`OutputWriteError`, a problem of the run, not of
one photo: the temporary file is removed and the target keeps its old content.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import tempfile
from pathlib import Path

from ..faults import fault_point

_UMASK = os.umask(0)
os.umask(_UMASK)

TEMP_PREFIX = "."  # temporary files are ".<name>.<random>.tmp" beside their target (see remove_stale_temporaries)
TEMP_SUFFIXES = (".tmp", ".tmp-journal")  # the second: SQLite's journal of a table being built


class OutputWriteError(OSError):
    """An output file could not be written (disk full, read-only or unwritable folder): the run stops with this one
    line; re-running the same command after fixing the cause resumes."""

    def __init__(self, path: str | Path, exc: BaseException) -> None:
        errno = getattr(exc, "errno", None)
        reason = getattr(exc, "strerror", None) or str(exc)
        super().__init__(errno, reason)
        self.path = str(path)

    def __str__(self) -> str:
        return (f"cannot write {self.path}: {self.strerror}; free space or fix the folder's permissions, then run the "
                "same command again to resume")

    def __reduce__(self):  # raised in a worker process, re-raised in the main one
        return (OutputWriteError, (self.path, OSError(self.errno, self.strerror)))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def output_mode() -> int:
    """Permission bits of every output file: ``0666`` minus the process umask (what ``open()`` would give)."""
    return 0o666 & ~_UMASK


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        os.fchmod(fd, output_mode())  # mkstemp makes 0600; outputs get the usual permissions
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        fault_point("tmp", path.name)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputWriteError):
            raise OutputWriteError(path, exc) from exc
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``: readers see the old or the new file, never half.

    Raises :class:`OutputWriteError` when the file cannot be written."""
    _atomic_write_bytes(Path(path), data)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Atomic UTF-8 text write (see :func:`atomic_write_bytes`)."""
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def safe_join(base: Path, rel: str) -> Path:
    """``base / rel`` for a relative POSIX path that stays inside ``base``; ValueError for an absolute path, one that
    climbs out with ``..``, or one with a NUL byte (pathlib would silently drop ``base`` for an absolute ``rel``)."""
    norm = posixpath.normpath(rel) if rel else ""
    if not rel or "\0" in rel or posixpath.isabs(rel) or norm == "." or norm == ".." or norm.startswith("../"):
        raise ValueError(f"path {rel!r} is not a relative path inside {base}")
    return base / norm


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Delete the temporary files (``.<name>.<random>.tmp``, and SQLite's ``-journal`` of one) that a killed run left
    under ``root``; returns them. Call it only while holding the folder's run lock (:mod:`.lock`), so that no live
    writer's file is removed."""
    removed = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            if name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIXES):
                p = Path(dirpath) / name
                p.unlink(missing_ok=True)
                removed.append(p)
    return sorted(removed)
