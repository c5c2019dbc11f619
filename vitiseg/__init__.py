"""vitiseg: vitiligo measured from clinical photographs (masks, F-VASI / T-VASI, change from baseline, reports).

``import vitiseg`` is light (no PyTorch, no MediaPipe): the Python API of :mod:`vitiseg.api` (``load``, ``run``,
``Measurement``, ``RunResult``) is imported on first use.
"""

from importlib import metadata

try:
    __version__ = metadata.version("vitiseg")  # the installed distribution's version (pyproject.toml)
except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"

_API = ("load", "run", "Measurer", "Measurement", "RunResult")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vitiseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
