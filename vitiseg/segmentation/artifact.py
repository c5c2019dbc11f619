"""Model folders: the typed ``config.json`` of a U-Net, its weights in safetensors, and the network built from them.

A model folder (the shipped one: ``vitiseg/models/vitiseg-unet-mnv2/``, package data) holds

- ``config.json``: :class:`ModelConfig` (architecture, encoder, classes, input normalisation, the colour normalisation
  the photo gets first, working input size, decode settings, the ONNX export's record); validated strictly (unknown
  keys rejected).
- ``model.safetensors``: the ``state_dict`` (fp32 or fp16 on disk, always fp32 in memory), loaded with
  ``strict=True`` so a missing, extra or mis-shaped tensor is an error, never silently ignored (PyTorch backend).
- ``model.onnx``: optional, the same network with its softmax for ONNX Runtime (``vitiseg model export``; its SHA-256
  and the SHA-256 of the weights it was exported from are in ``config.json["onnx"]``).
- ``README.md``: the model card (intended use, data, recipe, measured metrics, limitations).

Networks are built offline (``encoder_weights=None``); weights only ever come from the folder. This module imports
PyTorch only inside the functions that build or write networks, so reading a model folder needs no PyTorch.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ..config import NormaliseConfig, StrictModel
from ..io.files import atomic_write_bytes, atomic_write_text, sha256_file
from .refine import RefineConfig

if TYPE_CHECKING:  # PyTorch is a training dependency (vitiseg[train])
    import torch

log = logging.getLogger(__name__)

# Never reach for the network for encoder weights.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL_NAME = "vitiseg-unet-lite0-v2"
FORMAT_VERSION = 1
CLASSES = ("background", "skin", "depigmented")
PAD_MULTIPLE = 32
WEIGHTS_FILE, ONNX_FILE = "model.safetensors", "model.onnx"
SHA256_PATTERN = r"^[0-9a-f]{64}$"


SHIPPED_MODELS_DIR = Path(__file__).resolve().parents[1] / "models"  # package data


def default_model_dir() -> Path:
    """Folder of the shipped model: env ``VITISEG_MODEL_DIR`` if set, else ``vitiseg/models/<DEFAULT_MODEL_NAME>``
    inside the installed package (package data)."""
    env = os.environ.get("VITISEG_MODEL_DIR")
    if env:
        return Path(env)
    return SHIPPED_MODELS_DIR / DEFAULT_MODEL_NAME


def shipped_model_names() -> list[str]:
    """Names of the models installed with the package (``--model NAME`` selects one; the default and its
    predecessors, so that a study begun with one model can be measured to its end with it)."""
    return sorted(p.name for p in SHIPPED_MODELS_DIR.iterdir() if (p / "config.json").is_file())


class ModelError(ValueError):
    """A model folder is missing files, has an invalid config.json, or weights that do not match it."""


class InputNorm(StrictModel):
    """Per-channel scaling of RGB in [0, 1] before the network: ``(x - mean) / std``."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)


class ArchConfig(StrictModel):
    """segmentation-models-pytorch architecture. ``encoder_weights`` is always None (no downloads)."""

    arch: Literal["Unet"] = "Unet"
    encoder: str = "mobilenet_v2"
    encoder_depth: int = Field(5, ge=3, le=5)
    decoder_channels: tuple[int, ...] = (128, 64, 32, 16, 16)

    @field_validator("decoder_channels")
    @classmethod
    def _dec(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(c <= 0 for c in v):
            raise ValueError("decoder_channels must be positive")
        return v


class OnnxExport(StrictModel):
    """Record of the folder's ``model.onnx`` (written by ``vitiseg model export``): the file's SHA-256, its opset, and
    the SHA-256 of the ``model.safetensors`` it was exported from (a later change of the weights makes it stale)."""

    file: Literal["model.onnx"] = ONNX_FILE
    sha256: str = Field(pattern=SHA256_PATTERN)
    weights_sha256: str = Field(pattern=SHA256_PATTERN)
    opset: int = Field(ge=7)
    exporter: str = ""  # e.g. "torch 2.14.1 dynamo": provenance only


class ModelConfig(StrictModel):
    """Everything needed to rebuild and run a model; written as ``config.json`` in the artifact folder."""

    format_version: Literal[1] = FORMAT_VERSION
    name: str
    architecture: ArchConfig = ArchConfig()
    classes: tuple[str, str, str] = CLASSES
    input_norm: InputNorm = InputNorm()
    colour_normalisation: NormaliseConfig = NormaliseConfig()
    input_long_side: int = Field(384, ge=32, le=4096)
    depigmented_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    # hysteresis: pixels with share >= this, 8-connected to one >= depigmented_threshold, are depigmented too
    depigmented_threshold_low: float | None = Field(None, gt=0.0, lt=1.0)
    # test-time flip: mean of the probabilities of the working image and of its mirror image (mirrored back)
    flip_average: bool = False
    # with flip_average: also the up-down and the two-axis mirror images (4 passes instead of 2)
    flip_average_up_down: bool = False
    refinement: RefineConfig | None = None  # per-photo colour refinement (.refine); None = network only
    weights_dtype: Literal["float32", "float16"] = "float32"
    onnx: OnnxExport | None = None  # the folder's model.onnx, when exported
    training: dict[str, Any] = {}

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if tuple(v) != CLASSES:
            raise ValueError(f"classes must be {list(CLASSES)} (vitiseg class convention)")
        return v

    @model_validator(mode="after")
    def _low(self) -> "ModelConfig":
        low = self.depigmented_threshold_low
        if low is not None and low > self.depigmented_threshold:
            raise ValueError(f"depigmented_threshold_low ({low}) must not exceed depigmented_threshold "
                             f"({self.depigmented_threshold})")
        if self.flip_average_up_down and not self.flip_average:
            raise ValueError("flip_average_up_down needs flip_average: true")
        return self

    @field_validator("input_long_side")
    @classmethod
    def _mult(cls, v: int) -> int:
        if v % PAD_MULTIPLE:
            raise ValueError(f"input_long_side must be a multiple of {PAD_MULTIPLE}")
        return v


def weights_path(model_dir: str | Path) -> Path:
    """``MODEL_DIR/model.safetensors``; :class:`ModelError` when it is missing."""
    p = Path(model_dir) / WEIGHTS_FILE
    if not p.is_file():
        raise ModelError(f"model weights not found: {p}")
    return p


def model_identity(cfg: ModelConfig, model_dir: str | Path, backend: Literal["torch", "onnx"]) -> dict[str, Any]:
    """What a run records about the model and keys its resume records on: name, backend, the weights' SHA-256 (of
    ``model.safetensors``, the same for both backends; ``onnx_sha256`` too with ONNX Runtime), and every setting that
    changes a mask. An ONNX-only folder (no ``model.safetensors``) is identified by the weights hash recorded at export.
    """
    d = Path(model_dir)
    if backend == "onnx" and cfg.onnx is not None and not (d / WEIGHTS_FILE).is_file():
        weights_sha = cfg.onnx.weights_sha256
    else:
        weights_sha = sha256_file(weights_path(d))
    identity: dict[str, Any] = {
        "name": cfg.name,
        "kind": "unet",
        "backend": backend,
        "sha256": weights_sha,
        "encoder": cfg.architecture.encoder,
        "path": str(d.resolve()),
        "input_long_side": cfg.input_long_side,
        "depigmented_threshold": cfg.depigmented_threshold,
        "refinement": cfg.refinement.model_dump() if cfg.refinement is not None else None,
    }
    if backend == "onnx" and cfg.onnx is not None:
        identity["onnx_sha256"] = cfg.onnx.sha256
    # only when set: run folders of artifacts without them keep their resume key
    if cfg.depigmented_threshold_low is not None:
        identity["depigmented_threshold_low"] = cfg.depigmented_threshold_low
    if cfg.flip_average:
        identity["flip_average"] = True
    if cfg.flip_average_up_down:
        identity["flip_average_up_down"] = True
    return identity


def write_model_config(model_dir: str | Path, cfg: ModelConfig) -> None:
    """Write ``MODEL_DIR/config.json`` atomically (indented JSON, as every shipped folder has it)."""
    atomic_write_text(Path(model_dir) / "config.json", json.dumps(cfg.model_dump(mode="json"), indent=2) + "\n")


def build_network(arch: ArchConfig) -> torch.nn.Module:
    """Instantiate the smp network with random weights (``encoder_weights=None``): 3 input channels, 3 classes."""
    import segmentation_models_pytorch as smp

    if len(arch.decoder_channels) != arch.encoder_depth:
        raise ModelError(
            f"decoder_channels has {len(arch.decoder_channels)} entries, encoder_depth is {arch.encoder_depth}"
        )
    return smp.Unet(
        encoder_name=arch.encoder,
        encoder_depth=arch.encoder_depth,
        encoder_weights=None,
        decoder_channels=list(arch.decoder_channels),
        in_channels=3,
        classes=len(CLASSES),
    )


def load_model_config(model_dir: str | Path) -> ModelConfig:
    """Read and validate ``config.json``; raises :class:`ModelError` naming the file and the offending keys."""
    p = Path(model_dir) / "config.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read {p}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{p} is not valid JSON: {exc}") from exc
    try:
        return ModelConfig.model_validate(data)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ModelError(f"invalid model config {p}: {msgs}") from None


def save_artifact(
    model_dir: str | Path, net: torch.nn.Module, cfg: ModelConfig, card: str | None = None
) -> str:
    """Write ``config.json``, ``model.safetensors`` (in ``cfg.weights_dtype``) and optionally ``README.md``.

    Returns the hex SHA-256 of the written ``model.safetensors``. Files are written atomically. New weights have no ONNX
    export yet: ``cfg.onnx`` is dropped (and a ``model.onnx`` left in the folder removed) until ``vitiseg model export``.
    """
    import torch
    from safetensors.torch import save as st_save

    d = Path(model_dir)
    d.mkdir(parents=True, exist_ok=True)
    dtype = torch.float16 if cfg.weights_dtype == "float16" else torch.float32
    sd = {}
    for k, v in net.state_dict().items():
        t = v.detach().to("cpu")
        if t.is_floating_point():
            t = t.to(dtype)
        sd[k] = t.contiguous()
    atomic_write_bytes(d / WEIGHTS_FILE, st_save(sd, metadata={"format": "pt", "name": cfg.name}))
    (d / ONNX_FILE).unlink(missing_ok=True)
    write_model_config(d, cfg.model_copy(update={"onnx": None}))
    if card is not None:
        atomic_write_text(d / "README.md", card)
    return sha256_file(d / "model.safetensors")


def average_artifacts(model_dirs: list[str | Path], out_dir: str | Path, card: str | None = None) -> str:
    """Uniform weight average ("model soup") of artifacts of one architecture; writes a new artifact to ``out_dir``.

    Every floating-point tensor (weights and BatchNorm running statistics) is the mean of the inputs, computed in
    float64 and stored in the first artifact's ``weights_dtype``; integer tensors (``num_batches_tracked``) are taken
    from the last artifact. ``config.json`` is the last artifact's, with ``training["weight_average_of"]`` listing each
    input's path and SHA-256. Raises :class:`ModelError` unless there are >= 2 inputs with identical architecture,
    classes, input normalisation, colour normalisation, working size and threshold. Returns the new SHA-256.
    """
    from safetensors.torch import load_file

    dirs = [Path(d) for d in model_dirs]
    if len(dirs) < 2:
        raise ModelError("averaging needs at least two model folders")
    cfgs = [load_model_config(d) for d in dirs]
    keys = ("architecture", "classes", "input_norm", "colour_normalisation", "input_long_side", "depigmented_threshold",
            "depigmented_threshold_low", "flip_average", "flip_average_up_down")
    ref = {k: getattr(cfgs[0], k) for k in keys}
    for d, c in zip(dirs[1:], cfgs[1:]):
        diff = [k for k in keys if getattr(c, k) != ref[k]]
        if diff:
            raise ModelError(f"{d} differs from {dirs[0]} in {diff}; only artifacts of one model can be averaged")
    sds = [load_file(str(d / "model.safetensors")) for d in dirs]
    net = build_network(cfgs[0].architecture)
    target = net.state_dict()
    avg: dict[str, torch.Tensor] = {}
    for k, v in target.items():
        if any(k not in sd for sd in sds):
            raise ModelError(f"tensor {k} missing from one of {[str(d) for d in dirs]}")
        if v.is_floating_point():
            avg[k] = (sum(sd[k].double() for sd in sds) / len(sds)).float()
        else:
            avg[k] = sds[-1][k]
    net.load_state_dict(avg, strict=True)
    last = cfgs[-1]
    training = dict(last.training)
    training["weight_average_of"] = [{"path": str(d), "sha256": sha256_file(d / "model.safetensors")} for d in dirs]
    cfg = last.model_copy(update={"training": training, "weights_dtype": cfgs[0].weights_dtype})
    return save_artifact(out_dir, net, cfg, card)


def with_refinement(model_dir: str | Path, out_dir: str | Path, refinement: RefineConfig | None) -> str:
    """Copy an artifact to ``out_dir`` with its ``config.json`` ``refinement`` set (None removes it).

    The weights are copied byte for byte (same SHA-256, returned); the model card is not copied (the shipped card is
    maintained by ``scripts/evaluate_model_card.py``). ``training["refinement_from"]`` records the source artifact's
    path and weights hash. The network is unchanged, so the source's ``model.onnx`` (if exported) is copied too.
    """
    src, dst = Path(model_dir), Path(out_dir)
    cfg = load_model_config(src)
    wpath = weights_path(src)
    dst.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(dst / WEIGHTS_FILE, wpath.read_bytes())
    onnx = cfg.onnx if cfg.onnx is not None and (src / ONNX_FILE).is_file() else None
    if onnx is not None:
        atomic_write_bytes(dst / ONNX_FILE, (src / ONNX_FILE).read_bytes())
    training = dict(cfg.training)
    training["refinement_from"] = {"path": str(src), "sha256": sha256_file(wpath)}
    write_model_config(dst, cfg.model_copy(update={"refinement": refinement, "training": training, "onnx": onnx}))
    return sha256_file(dst / WEIGHTS_FILE)
