"""Which segmenter a run uses: the shipped U-Net, another model folder, or the classical baseline; and which backend
runs a U-Net: ONNX Runtime (the base install) or PyTorch (``vitiseg[train]``)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import NormaliseConfig, SegmentationConfig
from .artifact import SHIPPED_MODELS_DIR, ModelError, default_model_dir, shipped_model_names
from .base import Segmenter
from .classical import ClassicalSegmenter

log = logging.getLogger(__name__)


def model_dir_of(spec: str) -> Path:
    """The folder a ``--model`` value names: ``default`` (the shipped model), a model folder, or the name of a model
    installed with the package (:func:`shipped_model_names`; a folder of that name in the working directory wins);
    :class:`ModelError` when it has no ``config.json``."""
    d = default_model_dir() if spec == "default" else Path(spec)
    if spec != "default" and not (d / "config.json").is_file() and spec in shipped_model_names():
        d = SHIPPED_MODELS_DIR / spec
    if not (d / "config.json").is_file():
        what = "the shipped model" if spec == "default" else "model folder"
        raise ModelError(f"{what} not found: {d} (expected config.json with model.onnx or model.safetensors); "
                         f"installed models: {', '.join(shipped_model_names())}; "
                         "--model classical selects the training-free baseline")
    return d


def resolve_backend(backend: str, model_dir: Path, device: str = "auto") -> str:
    """``auto`` -> ``onnx`` when the folder has an ONNX export (and CUDA was not asked for), else ``torch``."""
    if backend != "auto":
        return backend
    from .onnx_runtime import has_onnx

    return "onnx" if device != "cuda" and has_onnx(model_dir) else "torch"


def thread_safe(cfg: SegmentationConfig) -> bool:
    """Whether the segmenter ``cfg`` names may measure several photos at once in threads of one process: the
    classical baseline and the ONNX Runtime backend (concurrent ``InferenceSession.run`` calls are safe); not PyTorch."""
    return cfg.model == "classical" or resolve_backend(cfg.backend, model_dir_of(cfg.model), cfg.device) == "onnx"


def load_segmenter(cfg: SegmentationConfig, normalise_cfg: NormaliseConfig = NormaliseConfig(),
                   threads: int = 0) -> Segmenter:
    """Build the segmenter named by ``cfg.model``: ``classical``, ``default`` (the shipped U-Net) or a model folder.

    ``normalise_cfg`` is the classical baseline's colour normalisation (a U-Net brings its own). A U-Net runs on
    ``cfg.backend`` (:func:`resolve_backend`); ``threads``: its intra-op threads (0: one per core). A missing model
    folder, or a backend that is not installed, is a :class:`ModelError`: never a quiet switch to another method.
    """
    spec = cfg.model
    if spec == "classical":
        return ClassicalSegmenter(cfg.classical.min_skin_fraction, normalise_cfg)
    d = model_dir_of(spec)
    if resolve_backend(cfg.backend, d, cfg.device) == "onnx":
        from .onnx_runtime import OnnxSegmenter

        return OnnxSegmenter.load(d, device=cfg.device, threads=threads)
    try:
        import torch

        from .unet import UNetSegmenter
    except ImportError as exc:
        hint = "" if cfg.backend == "torch" else f", or give the model an ONNX file: vitiseg model export {d}"
        raise ModelError(f"the PyTorch backend needs {exc.name} (pip install 'vitiseg[train]'){hint}") from None
    if threads > 0:
        torch.set_num_threads(threads)
    return UNetSegmenter.load(d, device=cfg.device)


def load_segmenter_checked(cfg: SegmentationConfig, normalise_cfg: NormaliseConfig = NormaliseConfig(),
                           threads: int = 0) -> Segmenter:
    """:func:`load_segmenter` for a command: a missing or broken model folder, a backend that is not installed, or an
    unavailable device is a user's mistake (:class:`vitiseg.usage.UsageError`, one line and exit code 2), not a
    traceback."""
    from ..usage import UsageError

    try:
        return load_segmenter(cfg, normalise_cfg, threads=threads)
    except (ModelError, FileNotFoundError) as exc:
        raise UsageError(str(exc)) from None
