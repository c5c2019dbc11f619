"""Fault injection for crash tests (``scripts/chaos.py`` and the kill-and-resume test); off unless asked for.

Two environment variables, read once when the package is imported; with neither set, :func:`fault_point` returns at
once and does nothing:

- ``VITISEG_FAULT=STAGE:N``: the process kills itself with SIGKILL the N-th time it reaches the fault point STAGE
  (a kill the process cannot catch or clean up after, like a power cut or the OOM killer).
- ``VITISEG_FAULT_TRACE=FILE``: every fault point reached appends ``STAGE<TAB>DETAIL`` to FILE (written before any
  kill, so the last line of a killed run names where it died).

Stages: ``decode`` (a photo is about to be read), ``inference`` (segmented), ``write`` (before each mask, facial-area
or overlay file of a photo), ``tmp`` (inside an atomic write: the temporary file is complete, not yet renamed),
``record`` (a resume record is about to be written), ``table`` (a CSV or SQLite table), ``report`` (the report).
"""

from __future__ import annotations

import os
import signal

STAGES = ("decode", "inference", "write", "tmp", "record", "table", "report")

_FAULT = os.environ.get("VITISEG_FAULT", "")
_TRACE = os.environ.get("VITISEG_FAULT_TRACE", "")
_counts: dict[str, int] = {}


def _parse(spec: str) -> tuple[str, int]:
    stage, _, n = spec.partition(":")
    if stage not in STAGES or not n.isdigit() or int(n) < 1:
        raise ValueError(f"VITISEG_FAULT={spec!r}: expected STAGE:N with STAGE one of {', '.join(STAGES)} and N >= 1")
    return stage, int(n)


_KILL = _parse(_FAULT) if _FAULT else None


def active() -> bool:
    """Whether fault injection or tracing is on: then a run measures one photo at a time, so that "the N-th time a
    stage is reached" names the same event in every run."""
    return _KILL is not None or bool(_TRACE)


def fault_point(stage: str, detail: str = "") -> None:
    """Mark that ``stage`` is reached (``detail``: the photo or file); see the module docstring."""
    if _KILL is None and not _TRACE:
        return
    if _TRACE:
        with open(_TRACE, "a", encoding="utf-8") as f:
            f.write(f"{stage}\t{detail}\n")
    if _KILL is not None and _KILL[0] == stage:
        _counts[stage] = _counts.get(stage, 0) + 1
        if _counts[stage] == _KILL[1]:
            os.kill(os.getpid(), signal.SIGKILL)
