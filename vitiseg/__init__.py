"""vitiseg: vitiligo measurement from clinical photographs.

``import vitiseg`` is light (no PyTorch, no MediaPipe): the Python API of :mod:`vitiseg.api` (``load``, ``run``,
``Measurement``, ``RunResult``) is imported on first use.
"""

_API = ("load", "run", "Measurer", "Measurement", "RunResult")


def __getattr__(name: str):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'vitiseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_API))
