"""Which segmenter a run uses: the shipped U-Net, another model folder, or the classical baseline."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import NormaliseConfig, SegmentationConfig
from .base import Segmenter
from .classical import ClassicalSegmenter

log = logging.getLogger(__name__)


def load_segmenter(cfg: SegmentationConfig, normalise_cfg: NormaliseConfig = NormaliseConfig()) -> Segmenter:
    """Build the segmenter named by ``cfg.model``: ``classical``, ``default`` (the shipped U-Net) or a model folder.

    ``normalise_cfg`` is the classical baseline's colour normalisation (a U-Net brings its own). ``default`` falls back
    to ``classical`` only when no model is shipped, and says so in the log (the identity recorded in run.json tells
    which one ran).
    """
    spec = cfg.model
    if spec == "classical":
        return ClassicalSegmenter(cfg.classical.min_skin_fraction, normalise_cfg)
    from .artifact import default_model_dir  # torch is imported only when a U-Net is used
    from .unet import UNetSegmenter

    if spec == "default":
        d = default_model_dir()
        if not (d / "config.json").is_file():
            log.warning("no shipped model at %s; using the classical baseline", d)
            return ClassicalSegmenter(cfg.classical.min_skin_fraction, normalise_cfg)
        return UNetSegmenter.load(d, device=cfg.device)
    p = Path(spec)
    if not p.is_dir():
        raise FileNotFoundError(f"model folder not found: {p} (expected config.json + model.safetensors)")
    return UNetSegmenter.load(p, device=cfg.device)


def load_segmenter_checked(cfg: SegmentationConfig,
                           normalise_cfg: NormaliseConfig = NormaliseConfig()) -> Segmenter:
    """:func:`load_segmenter` for a command: a missing or broken model folder, or an unavailable device, is a user's
    mistake (:class:`vitiseg.usage.UsageError`, one line and exit code 2), not a traceback."""
    from ..usage import UsageError

    try:
        return load_segmenter(cfg, normalise_cfg)
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        from .artifact import ModelError  # torch: only when a U-Net was being loaded

        if isinstance(exc, ModelError):
            raise UsageError(str(exc)) from None
        raise
