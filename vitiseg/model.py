"""U-Net model artifact (I/O) and inference (stage 2, learned segmenter).

A model artifact is a folder (``models/<name>/``) holding

- ``config.json``: :class:`ModelConfig` (architecture, encoder, classes, input normalisation, colour normalisation the
  pipeline must apply first, working input size, decision threshold); validated strictly (unknown keys rejected).
- ``model.safetensors``: the ``state_dict`` (fp32 or fp16 on disk, always fp32 in memory), loaded with
  ``strict=True`` so a missing, extra or mis-shaped tensor is an error, never silently ignored.
- ``README.md``: the model card (training data, recipe, measured metrics, data licences).

Inference (:class:`UNetSegmenter`) takes a colour-normalised ``(H, W, 3) uint8`` RGB photo of any size, resizes it so
that its long side equals ``input_long_side`` (the scale the network was trained at), pads to a multiple of 32 by
reflection, runs the network, optionally refines the probabilities by the photo's own skin colours at the working
size (``refinement`` in config.json, :mod:`vitiseg.refine`), resizes them back to ``(H, W)`` (bilinear) and decodes them
hierarchically: background if ``P(bg) > P(skin) + P(depig)``, else depigmented if
``P(depig) / (P(skin) + P(depig)) >= depigmented_threshold``, else healthy skin. Output ``(H, W) uint8`` in {0, 1, 2}.
Optional settings of ``config.json``: ``flip_average`` (probabilities = mean over the working image and its
left-right mirror; ``flip_average_up_down`` adds the up-down and two-axis mirrors) and ``depigmented_threshold_low``
(hysteresis decode, :func:`decode_probs`).
On CPU the result is deterministic for a fixed thread count (no random ops, deterministic algorithms requested).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from .config import NormaliseConfig
from .images import atomic_write_bytes, atomic_write_text, sha256_file
from .refine import RefineConfig, refine_probs

log = logging.getLogger(__name__)

# Never reach for the network for encoder weights.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_MODEL_NAME = "vitiseg-unet-mnv2"
FORMAT_VERSION = 1
CLASSES = ("background", "skin", "depigmented")
PAD_MULTIPLE = 32


def default_model_dir() -> Path:
    """Folder of the shipped model: env ``VITISEG_MODEL_DIR`` if set, else ``<repo>/models/<DEFAULT_MODEL_NAME>``."""
    env = os.environ.get("VITISEG_MODEL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME


DEFAULT_MODEL_DIR: Path = default_model_dir()


class ModelError(ValueError):
    """A model folder is missing files, has an invalid config.json, or weights that do not match it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputNorm(_Strict):
    """Per-channel scaling of RGB in [0, 1] before the network: ``(x - mean) / std``."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)


class ArchConfig(_Strict):
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


class ModelConfig(_Strict):
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
    refinement: RefineConfig | None = None  # per-photo colour refinement (vitiseg.refine); None = network only
    weights_dtype: Literal["float32", "float16"] = "float32"
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

    Returns the hex SHA-256 of the written ``model.safetensors``. Files are written atomically.
    """
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
    atomic_write_bytes(d / "model.safetensors", st_save(sd, metadata={"format": "pt", "name": cfg.name}))
    atomic_write_text(d / "config.json", json.dumps(cfg.model_dump(mode="json"), indent=2) + "\n")
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
    path and weights hash.
    """
    src, dst = Path(model_dir), Path(out_dir)
    cfg = load_model_config(src)
    wpath = src / "model.safetensors"
    if not wpath.is_file():
        raise ModelError(f"model weights not found: {wpath}")
    dst.mkdir(parents=True, exist_ok=True)
    data = wpath.read_bytes()
    atomic_write_bytes(dst / "model.safetensors", data)
    training = dict(cfg.training)
    training["refinement_from"] = {"path": str(src), "sha256": sha256_file(wpath)}
    new = cfg.model_copy(update={"refinement": refinement, "training": training})
    atomic_write_text(dst / "config.json", json.dumps(new.model_dump(mode="json"), indent=2) + "\n")
    return sha256_file(dst / "model.safetensors")


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but CUDA is not available")
    return torch.device(device)


AMBIGUOUS_LOW, AMBIGUOUS_HIGH = 0.25, 0.75  # depigmented-share band of "uncertain" skin pixels


def _resize_probs(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(3, h, w)`` probabilities -> ``(3, H, W)`` (bilinear per class; returned as is when the size matches)."""
    H, W = shape
    if p.shape[1:] == (H, W):
        return p
    return np.stack([cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR) for c in p])


def decode_probs(probs: np.ndarray, depigmented_threshold: float = 0.5,
                 depigmented_threshold_low: float | None = None) -> np.ndarray:
    """``(3, H, W) float`` class probabilities -> ``(H, W) uint8`` classes (hierarchical rule, see module doc).

    With ``depigmented_threshold_low`` (<= ``depigmented_threshold``), decoding is by hysteresis: a skin pixel whose
    depigmented share is >= the low threshold is depigmented when it is 8-connected, through skin pixels that also pass
    the low threshold, to a skin pixel that passes ``depigmented_threshold`` (components by
    ``cv2.connectedComponents``). ``None`` or a low equal to the threshold gives the plain rule.
    """
    p0, p1, p2 = probs[0], probs[1], probs[2]
    skin_p = p1 + p2
    skin = p0 <= skin_p
    out = np.zeros(p0.shape, dtype=np.uint8)
    out[skin] = 1
    strong = skin & (p2 >= depigmented_threshold * skin_p)
    low = depigmented_threshold_low
    if low is None or low >= depigmented_threshold or not strong.any():
        out[strong] = 2
        return out
    weak = skin & (p2 >= low * skin_p)
    n, labels = cv2.connectedComponents(weak.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(n, dtype=bool)
    keep[labels[strong]] = True
    keep[0] = False
    out[keep[labels]] = 2
    return out


def prepare_input(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize ``(H, W, 3) uint8`` RGB so ``max(h, w) == long_side`` (area for downscaling, bilinear for upscaling).

    Returns the resized image padded by reflection to multiples of 32, and the un-padded ``(h, w)``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    H, W = rgb.shape[:2]
    if H < 1 or W < 1:
        raise ValueError("empty image")
    s = long_side / max(H, W)
    h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
    if (h, w) != (H, W):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = cv2.resize(rgb, (w, h), interpolation=interp)
    else:
        img = rgb
    return pad_input(img), (h, w)


def pad_input(img: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` -> padded at the bottom and right to multiples of 32 (reflect-101; replicate when too
    small to reflect)."""
    h, w = img.shape[:2]
    ph = (-h) % PAD_MULTIPLE
    pw = (-w) % PAD_MULTIPLE
    if ph or pw:
        mode = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
        if ph >= h or pw >= w:
            mode = cv2.BORDER_REPLICATE
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, mode)
    return np.ascontiguousarray(img)


class UNetSegmenter:
    """A loaded U-Net artifact behind the :class:`vitiseg.segment.Segmenter` contract.

    ``identity`` = ``{"name", "kind": "unet", "sha256" (of model.safetensors), "encoder", "path", ...}``.
    """

    def __init__(self, net: torch.nn.Module, cfg: ModelConfig, identity: dict, device: torch.device) -> None:
        self.net = net
        self.cfg = cfg
        self.identity = identity
        self.device = device
        mean = np.asarray(cfg.input_norm.mean, dtype=np.float32)
        std = np.asarray(cfg.input_norm.std, dtype=np.float32)
        self._mean, self._std = mean, std

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto") -> "UNetSegmenter":
        """Load strictly: config.json validated, every tensor present with the right shape (``strict=True``)."""
        from safetensors.torch import load_file

        d = Path(model_dir)
        wpath = d / "model.safetensors"
        if not wpath.is_file():
            raise ModelError(f"model weights not found: {wpath}")
        cfg = load_model_config(d)
        net = build_network(cfg.architecture)
        try:
            sd = load_file(str(wpath))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise ModelError(f"cannot read weights {wpath}: {exc}") from exc
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"weights in {wpath} do not match config.json: {exc}") from None
        dev = _resolve_device(device)
        net.to(dev).eval()
        identity = {
            "name": cfg.name,
            "kind": "unet",
            "sha256": sha256_file(wpath),
            "encoder": cfg.architecture.encoder,
            "path": str(d.resolve()),
            "input_long_side": cfg.input_long_side,
            "depigmented_threshold": cfg.depigmented_threshold,
            "refinement": cfg.refinement.model_dump() if cfg.refinement is not None else None,
        }
        # only when set: run folders of artifacts without them keep their resume key
        if cfg.depigmented_threshold_low is not None:
            identity["depigmented_threshold_low"] = cfg.depigmented_threshold_low
        if cfg.flip_average:
            identity["flip_average"] = True
        if cfg.flip_average_up_down:
            identity["flip_average_up_down"] = True
        log.info("loaded U-Net %s (%s) from %s on %s", cfg.name, cfg.architecture.encoder, d, dev)
        return cls(net, cfg, identity, dev)

    def _to_tensor(self, imgs: list[np.ndarray]) -> torch.Tensor:
        x = np.stack(imgs).astype(np.float32) / 255.0
        x = (x - self._mean) / self._std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)

    @torch.inference_mode()
    def _probs(self, padded: list[np.ndarray]) -> np.ndarray:
        """``N`` equally shaped padded images -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        prev = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            logits = self.net(self._to_tensor(padded))
        finally:
            torch.use_deterministic_algorithms(prev)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def _working_probs(self, prepared: list[tuple[np.ndarray, tuple[int, int]]]) -> list[np.ndarray]:
        """Equally shaped padded working images with their un-padded ``(h, w)`` -> each one's ``(3, h, w) float32``
        network probabilities; with ``flip_average`` the mean of the image's and of its left-right mirror's (and, with
        ``flip_average_up_down``, of its up-down and two-axis mirrors'): each mirror padded the same way, its
        probabilities mirrored back."""
        probs = self._probs([img for img, _ in prepared])
        out = [p[:, :h, :w] for p, (_, (h, w)) in zip(probs, prepared)]
        if not self.cfg.flip_average:
            return out
        flips = [(slice(None), slice(None, None, -1))]  # (rows, columns) of each mirror image
        if self.cfg.flip_average_up_down:
            flips += [(slice(None, None, -1), slice(None)), (slice(None, None, -1), slice(None, None, -1))]
        for rows, cols in flips:
            m = self._probs([pad_input(img[:h, :w][rows, cols]) for img, (h, w) in prepared])
            out = [o + mi[:, :h, :w][:, rows, cols] for o, mi, (_, (h, w)) in zip(out, m, prepared)]
        return [o / (1 + len(flips)) for o in out]

    def _refine(self, img: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Working-size ``(3, h, w)`` probabilities of the un-padded working image ``img`` -> refined (or as is)."""
        if self.cfg.refinement is None:
            return p
        return refine_probs(img, p, self.cfg.refinement)[0]

    def _finish(self, probs: np.ndarray, img: np.ndarray, hw: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
        """``(3, h, w)`` working-size probabilities of the padded working image ``img`` -> ``shape`` classes."""
        h, w = hw
        p = self._refine(np.ascontiguousarray(img[:h, :w]), probs)
        return decode_probs(_resize_probs(p, shape), self.cfg.depigmented_threshold, self.cfg.depigmented_threshold_low)

    def predict_probs(self, rgb: np.ndarray, long_side: int | None = None, refine: bool = True) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB (colour-normalised) -> ``(3, H, W) float32`` class probabilities.

        ``long_side``: working size for this call instead of the artifact's ``input_long_side`` (for experiments with
        the inference scale; the pipeline always uses the artifact's). ``refine``: apply the artifact's colour
        refinement (if it has one); False gives the network's own probabilities.
        """
        img, (h, w) = prepare_input(rgb, long_side or self.cfg.input_long_side)
        p = self._working_probs([(img, (h, w))])[0]
        if refine:
            p = self._refine(np.ascontiguousarray(img[:h, :w]), p)
        return _resize_probs(p, rgb.shape[:2])

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB, already colour-normalised -> ``(H, W) uint8`` classes {0, 1, 2}."""
        return self.predict_batch([rgb])[0]

    def predict_with_ambiguity(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classes (identical to :meth:`predict`) and an ``(H, W) bool`` map of *ambiguous* skin pixels: classified
        skin whose depigmented share P(depig) / (P(skin) + P(depig)) lies strictly between 0.25 and 0.75, taken from
        the network's own probabilities (flip-averaged with ``flip_average``; before any colour refinement, which moves
        pixels by colour, not by the network's confidence; the skin/background decision, and so this map, is the same
        with or without it).

        On held-out synthetic photos, those with >= 5 % of their skin ambiguous had depigmented-fraction errors of
        5.5-32.9 pp on average per bin, against 2.1-4.2 pp below (shipped model; model card, "Uncertainty flag";
        ``scripts/uncertainty_calibration.py``).
        """
        img, (h, w) = prepare_input(rgb, self.cfg.input_long_side)
        raw = self._working_probs([(img, (h, w))])[0]
        net = _resize_probs(raw, rgb.shape[:2])
        final = net if self.cfg.refinement is None else _resize_probs(
            self._refine(np.ascontiguousarray(img[:h, :w]), raw), rgb.shape[:2])
        classes = decode_probs(final, self.cfg.depigmented_threshold, self.cfg.depigmented_threshold_low)
        ratio = net[2] / np.maximum(net[1] + net[2], 1e-12)
        return classes, (classes >= 1) & (ratio > AMBIGUOUS_LOW) & (ratio < AMBIGUOUS_HIGH)

    def predict_batch(self, rgbs: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Several photos of any sizes; those with the same working shape share a forward pass.

        Results are identical to calling :meth:`predict` on each photo (no cross-photo padding).
        """
        prepared = [prepare_input(r, self.cfg.input_long_side) for r in rgbs]
        out: list[np.ndarray | None] = [None] * len(rgbs)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (img, _) in enumerate(prepared):
            groups.setdefault(img.shape[:2], []).append(i)
        for idx in groups.values():
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                probs = self._working_probs([prepared[i] for i in chunk])
                for j, i in enumerate(chunk):
                    out[i] = self._finish(probs[j], prepared[i][0], prepared[i][1], rgbs[i].shape[:2])
        return [o for o in out if o is not None]
