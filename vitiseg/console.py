"""What reaches the console: vitiseg's log lines (plain for progress, ``WARNING:``/``ERROR:`` for what matters, the
full record with ``-v``) and nothing from the native libraries underneath.

MediaPipe's TFLite and absl C++ code write start-up lines (``Created TensorFlow Lite XNNPACK delegate``,
``inference_feedback_manager`` warnings) straight to file descriptor 2, beyond the reach of Python logging and of
``GLOG_minloglevel`` / ``TF_CPP_MIN_LOG_LEVEL``. :func:`quiet_native_stderr` points that descriptor at the null
device around the one place they are printed: creating FaceMesh and its first graph run (:mod:`vitiseg.face`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

PLAIN = "%(message)s"
DETAILED = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class ConsoleFormatter(logging.Formatter):
    """INFO lines as the bare message; WARNING and above prefixed with their level."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname}: {text}"


class _StderrHandler(logging.StreamHandler):
    """A stream handler that writes to whatever ``sys.stderr`` is at the time (test capture, notebooks)."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - property of the base class
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # the base class assigns it in __init__
        pass


def setup_console_logging(verbose: bool = False) -> logging.Handler:
    """Install the one console handler on the root logger (replacing an earlier one of this function): DEBUG and the
    detailed format with ``verbose``, else INFO with :class:`ConsoleFormatter`. Returns the handler."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_vitiseg_console", False):
            root.removeHandler(h)
    handler = _StderrHandler()
    handler._vitiseg_console = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(DETAILED) if verbose else ConsoleFormatter(PLAIN))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    return handler


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to the null device for the duration (C/C++ libraries writing to it directly).

    Python's ``sys.stderr`` is flushed first and the descriptor restored after, even on error. Process-wide: keep the
    block short (anything written to descriptor 2 by another thread meanwhile is lost too).
    """
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
