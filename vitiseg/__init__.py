"""vitiseg: vitiligo measured from clinical photographs (masks, F-VASI / T-VASI, change from baseline, reports)."""

from importlib import metadata

try:
    __version__ = metadata.version("vitiseg")  # the installed distribution's version (pyproject.toml)
except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
