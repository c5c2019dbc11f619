"""A user's mistakes, told in one line: the :class:`UsageError` every command raises for them, and the checks of
command-line paths and devices that raise it.

``vitiseg`` (:func:`vitiseg.cli.main`) turns a :class:`UsageError` into one ``ERROR`` line and exit code 2, never a
traceback; from Python (:mod:`vitiseg.api`) it is an ordinary exception with the same message.
"""

from __future__ import annotations

from pathlib import Path


class UsageError(ValueError):
    """A user's mistake (missing input folder, output path that is a file, unavailable device, ...): exit code 2."""


def require_input_dir(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is an existing folder; :class:`UsageError` naming ``what`` otherwise."""
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{what} not found: {p}")
    if not p.is_dir():
        raise UsageError(f"{what} is not a folder: {p}")
    return p


def require_input_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path when it is an existing file; :class:`UsageError` naming ``what`` otherwise."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"{what} not found: {p}" if not p.exists() else f"{what} is not a file: {p}")
    return p


def require_output_dir(path: str | Path, flag: str = "--out") -> Path:
    """Create the output folder ``path`` (and its parents) and return it; :class:`UsageError` when it is an existing
    file or cannot be created."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UsageError(f"{flag} {p} is a file; give a folder (it is created if missing)")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {flag} {p}: {exc.strerror or exc}") from None
    return p


def require_outside(out: str | Path, inputs: str | Path, what: str = "visits folder") -> None:
    """:class:`UsageError` when the output folder ``out`` is ``inputs`` or lies inside it (a second run would read
    its own masks and overlays as input photos)."""
    o, i = Path(out).resolve(), Path(inputs).resolve()
    if o == i or i in o.parents:
        raise UsageError(f"--out {out} is inside the {what} {inputs}: a second run would read its own masks and "
                         "overlays as photos; choose an output folder outside it")


def require_device(device: str) -> None:
    """:class:`UsageError` when ``device`` is ``cuda`` and neither PyTorch (``vitiseg[train]``) nor ONNX Runtime sees a
    CUDA device (``auto`` and ``cpu`` always work). Torch is imported only for ``cuda``."""
    if device != "cuda":
        return
    try:
        import torch
    except ImportError:  # the base install: ONNX Runtime runs the U-Net
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise UsageError("--device cuda: this ONNX Runtime has no CUDA provider (onnxruntime-gpu has it) and "
                             "PyTorch is not installed; use --device cpu or auto") from None
        return
    if not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available to PyTorch here; use --device cpu or auto")
