"""vitiseg from Python (notebooks, scripts): load a segmenter once, measure photos, run a visits folder.

    import vitiseg
    m = vitiseg.load()                                 # the shipped U-Net (or model="classical" / a model folder)
    r = m.measure("face_front.jpg", region="face")     # one photo -> Measurement
    r.fraction, r.skin_px, r.depigmented_px            # counted within the TRuE-V facial area for a face
    result = vitiseg.run("visits", "out")              # the whole pipeline, as `vitiseg run`

A photo is measured exactly as ``vitiseg run`` measures it: :func:`vitiseg.pipeline.photo.read_photo` and
:func:`vitiseg.pipeline.photo.measure_photo` (the one segmentation path,
:func:`vitiseg.segmentation.base.segment_photo`). A user's mistake raises :class:`vitiseg.usage.UsageError` or
:class:`vitiseg.config.ConfigError`; a photo that cannot be measured raises ValueError with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .config import PALM, RegionsConfig, RunConfig, load_config, load_regions
from .io.layout import parse_stem
from .pipeline.overlay import make_overlay
from .pipeline.photo import measure_photo, read_photo
from .segmentation.base import Segmenter
from .segmentation.load import load_segmenter_checked
from .usage import require_device, require_input_file


@dataclass(frozen=True)
class Measurement:
    """One photo measured by :meth:`Measurer.measure`.

    ``mask``: ``(h, w) uint8`` at the working size: 0 background, 1 healthy skin, 2 depigmented skin.
    ``skin_px``, ``depigmented_px``: pixel counts, within ``facial_area`` for a face photo. ``fraction``:
    depigmented / skin in [0, 1]. ``vasi_level``: the fraction snapped to a VASI level, in percent.
    ``facial_area``: ``(h, w) bool`` TRuE-V facial area of a face photo, else None. ``facial_area_px``: its size.
    ``uncertain_share``: share of the measured skin near the model's threshold (None for the classical baseline).
    ``image``: ``(h, w, 3) uint8`` sRGB, the photo at the working size, as taken.
    ``calibration``: the photos.csv calibration columns that were measured (:mod:`vitiseg.calibration`: ``chart``,
    ``chart_de00_after``, ``px_per_cm``, ``depigmented_cm2``, ``skin_L``, ``hand_unit_cm2`` for a palm photo, ...).
    """

    path: str
    region: str | None
    view: str
    mask: np.ndarray
    skin_px: int
    depigmented_px: int
    fraction: float
    vasi_level: int | None
    facial_area: np.ndarray | None
    facial_area_px: int | None
    face_area_status: str
    uncertain_share: float | None
    image: np.ndarray
    calibration: dict[str, Any]

    def overlay(self, long_side: int = 1600) -> np.ndarray:
        """The overlay ``vitiseg run`` writes: ``(h, w, 3) uint8`` sRGB, depigmented skin magenta, facial area cyan."""
        return make_overlay(self.image, self.mask, self.facial_area, long_side)


class Measurer:
    """A loaded segmenter and run configuration; :meth:`measure` measures one photo at a time."""

    def __init__(self, cfg: RunConfig, segmenter: Segmenter, regions: RegionsConfig) -> None:
        self.cfg = cfg
        self.segmenter = segmenter
        self.regions = regions

    @property
    def model(self) -> dict[str, Any]:
        """The segmenter's identity (name, kind, weights' SHA-256, ...), as recorded in ``run.json``."""
        return dict(self.segmenter.identity)

    def measure(self, photo: str | Path | np.ndarray, region: str | None = None, view: str | None = None
                ) -> Measurement:
        """Measure one photo: a file (any format ``vitiseg run`` reads) or an ``(H, W, 3) uint8`` sRGB array.

        ``region``: a body region or alias (``face``, ``hands``, ``arm``, ...) or ``palm`` (a hand-unit photo);
        default: from the file name as in a visits folder (``face_front.jpg`` -> face), else None (a body region other
        than the face: all skin counts).
        ``view``: the face view (``front``, ``left``, ``right``); default: from the file name, else ``front``.
        """
        name = ""
        if isinstance(photo, np.ndarray):
            if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
                raise ValueError(f"expected an (H, W, 3) uint8 sRGB array, got {photo.shape} {photo.dtype}")
            from .io.images import resize_long_side

            rgb = resize_long_side(photo, self.cfg.io.work_long_side)
        else:
            path = require_input_file(photo, "photo")
            name = str(path)
            rgb = read_photo(path, self.cfg)
            parsed = parse_stem(path.stem, self.regions)
            if parsed is not None:
                region = region or parsed[0]
                view = view if view is not None else parsed[1]
        canonical = (PALM if region.lower() == PALM else self.regions.resolve(region)) if region else None
        if region and canonical is None:
            raise ValueError(f"unknown body region {region!r}; expected one of {', '.join(self.regions.regions)}")
        view = view or ("front" if canonical == "face" else "")
        m = measure_photo(rgb, canonical or "", view, self.cfg, self.segmenter)
        return Measurement(name, canonical, view, m.classes, m.skin_px, m.depigmented_px, m.fraction, m.vasi_level,
                           m.facial_area, None if m.facial_area is None else int(m.facial_area.sum()),
                           m.face_area_status, m.uncertain_share, m.rgb, m.calibration)


def _overrides(model: str | None, device: str | None, face_area: str | None, normalise: str | None
               ) -> dict[str, Any]:
    """Run-config overrides from the keyword arguments that were given (as the command line's flags)."""
    o: dict[str, Any] = {}
    if model:
        o.setdefault("segmentation", {})["model"] = model
    if device:
        o.setdefault("segmentation", {})["device"] = device
    if face_area:
        o["face"] = {"area": face_area}
    if normalise:
        o["normalise"] = {"method": normalise}
    return o


def load(model: str = "default", device: str = "auto", config: str | Path | None = None,
         face_area: str | None = None, normalise: str | None = None, regions: str | Path | None = None) -> Measurer:
    """Load the segmenter once: ``model`` ``default`` (the shipped U-Net), ``classical`` or a model folder;
    ``config``: a run config YAML merged over the packaged defaults; ``face_area``: ``truev`` or ``skin``;
    ``normalise``: colour normalisation of the classical baseline."""
    cfg = load_config(config, _overrides(model, device, face_area, normalise))
    require_device(cfg.segmentation.device)
    return Measurer(cfg, load_segmenter_checked(cfg.segmentation, cfg.normalise), load_regions(regions))


@dataclass(frozen=True)
class RunResult:
    """What :func:`run` wrote, with its main tables loaded (``visits``, ``longitudinal``, ``photos``)."""

    out: Path
    summary: dict[str, Any]
    visits: pd.DataFrame
    longitudinal: pd.DataFrame
    photos: pd.DataFrame

    @property
    def report(self) -> Path | None:
        """The HTML report, if one was written."""
        return Path(self.summary["report"]) if self.summary.get("report") else None

    @property
    def failed(self) -> int:
        return int(self.summary["counts"]["failed"])


def run(visits: str | Path, out: str | Path, config: str | Path | None = None, *, model: str | None = None,
        device: str | None = None, face_area: str | None = None, normalise: str | None = None,
        title: str | None = None, progress: bool = True, workers: int = 1, report: bool = True) -> RunResult:
    """``vitiseg run VISITS --out OUT`` from Python: same outputs, resumable; returns the run's tables."""
    from .pipeline.run import run as run_pipeline

    cfg = load_config(config, {**_overrides(model, device, face_area, normalise), "report": report})
    summary = run_pipeline(visits, out, cfg, load_regions(), progress=progress, workers=max(1, workers), title=title)
    o = Path(summary["out_dir"])
    ids = {"patient_id": str, "visit_id": str}
    return RunResult(o, summary, pd.read_csv(o / "visits.csv", dtype=ids), pd.read_csv(o / "longitudinal.csv", dtype=ids),
                     pd.read_csv(o / "photos.csv", dtype=ids))
