"""U-Net training (``vitiseg train --config configs/train_<name>.yaml [--out RUN_DIR]``).

The config (:class:`TrainConfig`, unknown keys rejected) names the data sources (:mod:`vitiseg.datasets`), the
architecture, input scale, augmentation, loss, optimiser, schedule and seed. Training is

- **sampled, not epoch-over-files**: each step draws ``batch_size`` samples, source by ``weight`` then a sample
  uniformly, from a generator seeded by ``(seed, step)``; an "epoch" is ``steps_per_epoch`` steps. A resumed run
  therefore sees exactly the batches an uninterrupted run would have seen.
- **on colour-normalised photos** (the pipeline's :func:`vitiseg.normalise.normalise` settings, recorded in the model
  config), resized so the long side is ``input_long_side`` x a random scale, then cropped to ``crop_size``.
- **partial-label aware**: the loss is ``ce_weight * CE + dice_weight * Dice``, where CE is ``-log sum_{c allowed} p_c``
  over each pixel's allowed class set (so coarse lesion polygons say "lesion" inside and only "not lesion" outside,
  and unknown pixels are ignored), and the soft Dice of each class in ``dice_classes`` is computed over the pixels
  whose membership of that class is known (``loss.fn_weight`` > 0.5 turns it into a recall-leaning Tversky loss).

After each epoch the model is validated on every source's ``val`` split with :mod:`vitiseg.evaluate` (same metric
code as ``vitiseg evaluate``); the best checkpoint by mean pooled Dice of the depigmented class (over val sources
that label lesions) is exported as a model artifact to ``RUN_DIR/best``, and the latest epoch to ``RUN_DIR/last``
(the one to ship when a run's schedule has decayed and picking on the small validation sample would be noise).
``RUN_DIR/last.pt`` (model, optimiser, schedule, step, history) is written after every epoch; re-running the same
command resumes from it.
Outputs: ``RUN_DIR/{config.yaml, metrics.jsonl, train.log, splits/*.txt, last.pt, best/, last/}``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from tqdm import tqdm

from . import datasets as ds
from .config import ConfigError, NormaliseConfig
from .evaluate import evaluate_array, summarise
from .images import sha256_file, atomic_write_bytes, atomic_write_text
from .model import ArchConfig, InputNorm, ModelConfig, UNetSegmenter, build_network, save_artifact

log = logging.getLogger(__name__)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LossConfig(_Strict):
    ce_weight: float = Field(1.0, ge=0.0)
    dice_weight: float = Field(1.0, ge=0.0)
    dice_classes: list[int] = [1, 2]
    # Tversky weight of false negatives in the overlap term, 1 - (TP + 1) / (TP + (1 - b) FP + b FN + 1) per class;
    # 0.5 is the soft Dice. Above 0.5 a missed lesion pixel costs more than a false alarm (recall-leaning).
    fn_weight: float = Field(0.5, gt=0.0, lt=1.0)


class OptimConfig(_Strict):
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


class ValConfig(_Strict):
    max_images_per_source: int = Field(64, ge=1)


class DataConfig(_Strict):
    sources: list[ds.SourceConfig]
    crop_size: int = Field(256, ge=32)
    # prepare every training sample once into tensors on the training device and cut / augment the batches there
    # (vitiseg.device_batches); False = loader processes with OpenCV (Sampler). Different draws: part of the fingerprint.
    on_device: bool = False

    @model_validator(mode="after")
    def _names(self) -> "DataConfig":
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"source names must be unique: {names}")
        if not self.sources or sum(s.weight for s in self.sources) <= 0:
            raise ValueError("at least one source with weight > 0 is needed")
        return self


class TrainConfig(_Strict):
    """``configs/train_*.yaml``."""

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
    augment: ds.AugmentConfig = ds.AugmentConfig()
    loss: LossConfig = LossConfig()
    optim: OptimConfig = OptimConfig()
    val: ValConfig = ValConfig()
    max_minutes: float | None = Field(None, gt=0)
    init_weights: str | None = None  # start from these weights (a run's last.pt / best.pt or a model.safetensors)

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
        if not d["data"].get("on_device"):  # the default (loader batches): identity of runs from before the option
            d["data"].pop("on_device", None)
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
        lines = [f"invalid training config {p}:"]
        for e in exc.errors():
            loc = ".".join(map(str, e["loc"]))
            lines.append(f"  - unknown key '{loc}'" if e["type"] == "extra_forbidden" else f"  - {loc}: {e['msg']}")
        raise ConfigError("\n".join(lines)) from None


# ----------------------------------------------------------------------------------------------------- loss


def partial_loss(
    logits: torch.Tensor, allowed: torch.Tensor, loss: LossConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss for set-valued targets.

    ``logits``: ``(N, 3, H, W)`` float; ``allowed``: ``(N, H, W)`` uint8 bit masks (bit c = class c allowed; 7 =
    unknown). Returns the scalar loss and its parts.
    """
    bits = torch.stack([(allowed >> c) & 1 for c in range(3)], dim=1).bool()  # (N,3,H,W)
    known = bits.sum(1) < 3  # pixels that carry any information
    logp = F.log_softmax(logits.float(), dim=1)
    parts: dict[str, float] = {}
    total = logits.new_zeros(())
    if loss.ce_weight > 0:
        lse = torch.logsumexp(logp.masked_fill(~bits, -1e4), dim=1)  # log sum_{allowed} p
        ce = -(lse[known]).mean() if known.any() else logits.new_zeros(())
        total = total + loss.ce_weight * ce
        parts["ce"] = float(ce.detach())
    if loss.dice_weight > 0 and loss.dice_classes:
        p = logp.exp()
        dices = []
        for c in loss.dice_classes:
            pos = bits[:, c] & (bits.sum(1) == 1)  # certainly class c
            neg = ~bits[:, c]  # certainly not class c
            valid = (pos | neg).float()
            pc = p[:, c] * valid
            tp = (pc * pos.float()).sum()
            fp = pc.sum() - tp
            fn = pos.float().sum() - tp
            b = loss.fn_weight  # 0.5: (2 TP + 1) / (2 TP + FP + FN + 1) written as a Tversky index with smoothing 1/2
            dices.append(1.0 - (tp + 0.5) / (tp + (1.0 - b) * fp + b * fn + 0.5))
        dl = torch.stack(dices).mean()
        total = total + loss.dice_weight * dl
        parts["dice"] = float(dl.detach())
    parts["loss"] = float(total.detach())
    return total, parts


# ----------------------------------------------------------------------------------------------------- data


class Sampler:
    """Deterministic batch sampler over the ``train`` splits of all sources (see module doc)."""

    def __init__(self, cfg: TrainConfig, splits: dict[str, dict[str, list[ds.Sample]]]) -> None:
        self.cfg = cfg
        self.names = [s.name for s in cfg.data.sources if s.weight > 0 and splits[s.name]["train"]]
        if not self.names:
            raise ValueError("no training samples in any source with weight > 0")
        w = np.array([next(s.weight for s in cfg.data.sources if s.name == n) for n in self.names], dtype=np.float64)
        self.p = w / w.sum()
        self.train = {n: splits[n]["train"] for n in self.names}

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, allowed)``: ``(B, crop, crop, 3) uint8`` RGB crops (colour-normalised and augmented; see
        :func:`network_input`) and ``(B, crop, crop) uint8`` bit-mask targets."""
        rng = np.random.default_rng([self.cfg.seed, step])
        cfg = self.cfg
        xs, ts = [], []
        for _ in range(cfg.optim.batch_size):
            name = self.names[int(rng.choice(len(self.names), p=self.p))]
            pool = self.train[name]
            sample = pool[int(rng.integers(len(pool)))]
            rgb, tgt = ds.load_sample(sample, cfg.colour_normalisation)
            img, t = ds.augment_crop(rgb, tgt, rng, cfg.input_long_side, cfg.data.crop_size, cfg.augment)
            xs.append(img)
            ts.append(t)
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))


def network_input(x: torch.Tensor, norm: InputNorm) -> torch.Tensor:
    """``(B, H, W, 3) uint8`` RGB batch (on any device) -> ``(B, 3, H, W) float32`` ``(x / 255 - mean) / std``."""
    mean = torch.tensor(norm.mean, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm.std, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x.permute(0, 3, 1, 2).float() / 255.0 - mean) / std


class StepBatches(torch.utils.data.Dataset):
    """Map-style view of :meth:`Sampler.batch` indexed by step, for a ``DataLoader`` with ``batch_size=None``.

    Pickled (to spawned loader processes) as the config alone: each process rebuilds the sample lists (a sorted
    folder listing, identical everywhere), so a large source does not make every process start wait for the previous.
    """

    def __init__(self, sampler: Sampler, steps: range) -> None:
        self.cfg = sampler.cfg
        self.sampler: Sampler | None = sampler
        self.steps = steps

    def __getstate__(self) -> dict[str, Any]:
        return {"cfg": self.cfg, "steps": self.steps, "sampler": None}

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sampler is None:
            self.sampler = Sampler(self.cfg, {s.name: ds.list_samples(s) for s in self.cfg.data.sources})
        return self.sampler.batch(self.steps[i])


def _loader_init(_: int) -> None:
    import cv2

    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # one core per loader process


def batches(sampler: Sampler, steps: range, workers: int, pin: bool) -> Any:
    """Iterate the batches of ``steps`` in order, prepared by ``workers`` processes (0 = here)."""
    if workers <= 0:
        return (sampler.batch(s) for s in steps)
    return torch.utils.data.DataLoader(
        StepBatches(sampler, steps), batch_size=None, shuffle=False, num_workers=workers, pin_memory=pin,
        prefetch_factor=4, worker_init_fn=_loader_init, multiprocessing_context="spawn",
    )


def device_stream(cfg: TrainConfig, sampler: Sampler, device: torch.device, workers: int, steps: range) -> Any:
    """Batches of ``steps`` cut on ``device`` from banks of every training sample (``data.on_device``)."""
    from .device_batches import DeviceSampler, bank_side, build_bank

    side = bank_side(cfg.input_long_side, cfg.augment)
    t0 = time.time()
    banks = {}
    for name in sampler.names:
        banks[name] = build_bank(sampler.train[name], cfg.colour_normalisation, side, device, workers)
    mb = sum(b.images.numel() + b.targets.numel() for b in banks.values()) / 2**20
    log.info("device banks: %s samples, side %d px, %.0f MiB on %s, built in %.1f s",
             {n: len(b) for n, b in banks.items()}, side, mb, device, time.time() - t0)
    dev_sampler = DeviceSampler(sampler.names, list(sampler.p), banks, cfg.input_long_side, cfg.data.crop_size,
                        cfg.optim.batch_size, cfg.augment, cfg.seed)
    return (dev_sampler.batch(s) for s in steps)


def _eval_gt(sample: ds.Sample, target: np.ndarray) -> tuple[np.ndarray, str]:
    """Bit-mask target -> ground truth in :mod:`vitiseg.evaluate` form and its mask kind."""
    if sample.kind == "classes":
        return (np.log2(target).astype(np.uint8)), "classes"
    if sample.kind == "skin":
        return np.where(target == ds.SKIN_BIT, 255, 0).astype(np.uint8), "skin"
    return np.where(target == ds.DEPIG_BIT, 255, 0).astype(np.uint8), "lesion"


def validate(seg: UNetSegmenter, cfg: TrainConfig, splits: dict[str, dict[str, list[ds.Sample]]]) -> dict[str, Any]:
    """Per-source validation summaries and the selection score (mean pooled depigmented Dice)."""
    out: dict[str, Any] = {"sources": {}}
    scores = []
    for src in cfg.data.sources:
        val = splits[src.name]["val"][: cfg.val.max_images_per_source]
        if not val:
            continue
        rows, kind = [], "classes"
        for s in val:
            rgb, tgt = ds.load_sample(s, cfg.colour_normalisation)
            gt, kind = _eval_gt(s, tgt)
            rows.append(evaluate_array(seg, s.id, rgb, gt, kind))  # type: ignore[arg-type]
        summ = summarise(rows, kind)  # type: ignore[arg-type]
        brief: dict[str, Any] = {"n": len(rows), "kind": kind}
        if "depigmented" in summ:
            brief["depig_dice"] = summ["depigmented"]["pooled_dice"]
            scores.append(brief["depig_dice"])
        if "skin" in summ:
            brief["skin_dice"] = summ["skin"]["pooled_dice"]
        if summ.get("fraction"):
            brief["fraction_mae"] = summ["fraction"]["mae"]
        out["sources"][src.name] = brief
    out["score"] = float(np.mean(scores)) if scores else float("nan")
    return out


# ----------------------------------------------------------------------------------------------------- training


def lr_at(step: int, o: OptimConfig, time_frac: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay to ``min_lr`` (or constant).

    ``time_frac`` (elapsed / time budget, used when ``time_schedule``) advances the decay if it is ahead of the steps.
    """
    total = o.epochs * o.steps_per_epoch
    if o.warmup_steps and step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return o.lr
    t = max((step - o.warmup_steps) / max(1, total - o.warmup_steps), time_frac)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + math.cos(math.pi * min(1.0, t)))


def model_config_for(cfg: TrainConfig, training: dict[str, Any]) -> ModelConfig:
    return ModelConfig(
        name=cfg.name,
        architecture=cfg.architecture,
        input_norm=cfg.input_norm,
        colour_normalisation=cfg.colour_normalisation,
        input_long_side=cfg.input_long_side,
        depigmented_threshold=cfg.depigmented_threshold,
        weights_dtype=cfg.weights_dtype,
        training=training,
    )


def _auto_card(cfg: TrainConfig, training: dict[str, Any], which: Literal["best", "last"] = "best") -> str:
    what = {"best": "best checkpoint by validation Dice of the depigmented class",
            "last": f"checkpoint of the latest epoch, {training.get('epoch')}"}[which]
    lines = [
        f"# {cfg.name}",
        "",
        f"Automatically written by `vitiseg train` ({what}).",
        "Validation metrics below are from the training run's own val splits; see the shipped model card for the",
        "held-out evaluation.",
        "",
        "```json",
        json.dumps(training, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())


def train(cfg: TrainConfig, run_dir: str | Path, progress: bool = True, config_source: str = "") -> dict[str, Any]:
    """Train (or resume) a run in ``run_dir``; returns the final state summary (history, best score, paths)."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    fh = logging.FileHandler(run / "train.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    fh.setLevel(logging.INFO)
    vlog = logging.getLogger("vitiseg")
    old_level = vlog.level
    if vlog.getEffectiveLevel() > logging.INFO:  # train.log always gets the INFO progress records
        vlog.setLevel(logging.INFO)
    vlog.addHandler(fh)
    try:
        return _train(cfg, run, progress, config_source)
    finally:
        vlog.removeHandler(fh)
        vlog.setLevel(old_level)
        fh.close()


def _train(cfg: TrainConfig, run: Path, progress: bool, config_source: str) -> dict[str, Any]:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = torch.device("cuda" if (cfg.device in ("auto", "cuda") and torch.cuda.is_available()) else "cpu")
    fp = cfg.fingerprint()
    cfg_yaml = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    prev_cfg = run / "config.yaml"
    ckpt_path = run / "last.pt"
    if ckpt_path.is_file() and prev_cfg.is_file():
        prev = TrainConfig.model_validate(yaml.safe_load(prev_cfg.read_text(encoding="utf-8")))
        if prev.fingerprint() != fp:
            raise ConfigError(
                f"{run} holds a run with a different config (fingerprint {prev.fingerprint()} != {fp}); "
                "use another --out or delete it"
            )
    atomic_write_text(prev_cfg, cfg_yaml)

    splits = {s.name: ds.list_samples(s) for s in cfg.data.sources}
    (run / "splits").mkdir(exist_ok=True)
    for name, by in splits.items():
        for split, items in by.items():
            atomic_write_text(run / "splits" / f"{name}_{split}.txt", "".join(f"{s.id}\n" for s in items))
        log.info("source %s: %s", name, {k: len(v) for k, v in by.items()})
        tr_groups = {s.group for s in by["train"]}
        leak = tr_groups & {s.group for s in by["val"] + by["test"]}
        if leak:
            raise ValueError(f"source {name}: source photos in both train and val/test: {sorted(leak)[:5]}")
    sampler = Sampler(cfg, splits)

    net = build_network(cfg.architecture).to(device)
    layout = torch.channels_last if cfg.channels_last else torch.contiguous_format
    net = net.to(memory_format=layout)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay,
                            fused=device.type == "cuda")
    start_epoch, history, best = 0, [], -1.0
    elapsed_before = 0.0
    if cfg.init_weights and not ckpt_path.is_file():
        src = Path(cfg.init_weights)
        if src.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = {k: v.float() for k, v in load_file(str(src)).items()}
        else:
            state = torch.load(src, map_location="cpu", weights_only=False)["model"]
        net.load_state_dict(state, strict=True)
        log.info("initialised weights from %s (sha256 %s)", src, sha256_file(src)[:12])
    if ckpt_path.is_file():
        st = torch.load(ckpt_path, map_location=device, weights_only=False)
        net.load_state_dict(st["model"], strict=True)
        opt.load_state_dict(st["optimizer"])
        start_epoch, history, best = st["epoch"], st["history"], st["best_score"]
        elapsed_before = st.get("train_seconds", 0.0)
        torch.set_rng_state(st["torch_rng"])
        log.info("resumed %s at epoch %d (best score %.4f)", run, start_epoch, best)

    o = cfg.optim
    t_start = time.time()
    n_params = sum(p.numel() for p in net.parameters())
    log.info("training %s: %s/%s, %.2fM params, device %s, fingerprint %s",
             cfg.name, cfg.architecture.arch, cfg.architecture.encoder, n_params / 1e6, device, fp)
    stopped_early = False
    budget_s = cfg.max_minutes * 60 if cfg.max_minutes else None
    timed = bool(o.time_schedule and budget_s)

    def time_frac() -> float:
        return (elapsed_before + time.time() - t_start) / budget_s if timed and budget_s else 0.0

    time_up = False
    lr = float("nan")
    amp = device.type == "cuda" and cfg.mixed_precision == "bf16"
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    # one stream of batches for the rest of the run (loader processes start once, not per epoch)
    workers = min(cfg.loader_workers, max(0, (os.cpu_count() or 1) - 1))  # never more processes than spare cores
    if workers < cfg.loader_workers:
        log.info("loader_workers %d reduced to %d (%s CPU cores here)", cfg.loader_workers, workers, os.cpu_count())
    run_steps = range(start_epoch * o.steps_per_epoch, o.epochs * o.steps_per_epoch)
    if cfg.data.on_device:
        stream = iter(device_stream(cfg, sampler, device, workers, run_steps))
    else:
        stream = iter(batches(sampler, run_steps, workers, device.type == "cuda"))
    for epoch in range(start_epoch, o.epochs):
        if time_up:
            break
        net.train()
        t_ep = time.time()
        agg: dict[str, float] = {}
        n_steps = 0
        first = epoch * o.steps_per_epoch
        steps = range(first, first + o.steps_per_epoch)
        bar = tqdm(steps, desc=f"epoch {epoch + 1}/{o.epochs}", disable=not progress, mininterval=10.0)
        for step in bar:
            tf = time_frac()
            if timed and tf >= 1.0:
                time_up = True
                log.warning("time budget of %.0f min used up at step %d; finishing", cfg.max_minutes, step)
                break
            lr = lr_at(step, o, tf)
            for g in opt.param_groups:
                g["lr"] = lr
            x, t = next(stream)
            x = network_input(x.to(device, non_blocking=True), cfg.input_norm).contiguous(memory_format=layout)
            t = t.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                logits = net(x)
            loss, parts = partial_loss(logits, t, cfg.loss)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), o.grad_clip)
            opt.step()
            n_steps += 1
            for k, v in parts.items():
                agg[k] = agg.get(k, 0.0) + v
            if n_steps % 50 == 0 or not progress:
                bar.set_postfix(loss=f"{parts['loss']:.3f}")
        train_s = time.time() - t_ep
        if n_steps == 0:
            break
        net.eval()
        t_val = time.time()
        torch.backends.cudnn.benchmark = False  # validation photos come in many shapes: no autotuning per shape
        mcfg = model_config_for(cfg, {})
        seg = UNetSegmenter(net, mcfg, {"name": cfg.name, "kind": "unet"}, device)
        val = validate(seg, cfg, splits)
        rec = {
            "epoch": epoch + 1,
            "step": epoch * o.steps_per_epoch + n_steps,
            "steps_this_epoch": n_steps,
            "lr": lr,
            **{f"train_{k}": v / max(1, n_steps) for k, v in agg.items()},
            "train_seconds": train_s,
            "val_seconds": time.time() - t_val,
            "val": val,
        }
        torch.backends.cudnn.benchmark = device.type == "cuda"
        history.append(rec)
        with (run / "metrics.jsonl").open("a", encoding="utf-8") as f:
            f.write(json.dumps(rec) + "\n")
        log.info("epoch %d: loss %.4f (ce %.4f dice %.4f) | val %s | score %.4f | %.0f s train %.0f s val",
                 epoch + 1, rec.get("train_loss", float("nan")), rec.get("train_ce", float("nan")),
                 rec.get("train_dice", float("nan")),
                 {k: {m: round(v, 4) if isinstance(v, float) else v for m, v in d.items()}
                  for k, d in val["sources"].items()},
                 val["score"], train_s, rec["val_seconds"])
        total_s = elapsed_before + (time.time() - t_start)
        training = {
            "config_fingerprint": fp,
            "config_source": config_source,
            "epoch": epoch + 1,
            "steps": rec["step"],
            "val": val,
            "train_seconds_so_far": total_s,
            "device": str(device),
            "torch": torch.__version__,
        }
        if not math.isnan(val["score"]) and val["score"] > best:
            best = val["score"]
            sha = save_artifact(run / "best", net, model_config_for(cfg, training), _auto_card(cfg, training, "best"))
            log.info("new best %.4f at epoch %d -> %s (sha256 %s)", best, epoch + 1, run / "best", sha[:12])
        # the latest epoch as a model artifact too: with a decayed schedule it is often the one to ship, since the
        # "best" epoch is picked on a small validation sample (and picking on it makes its numbers optimistic)
        save_artifact(run / "last", net, model_config_for(cfg, training), _auto_card(cfg, training, "last"))
        _save_checkpoint(
            ckpt_path,
            {
                "model": net.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch + 1,
                "history": history,
                "best_score": best,
                "torch_rng": torch.get_rng_state(),
                "train_seconds": total_s,
                "fingerprint": fp,
            },
        )
        if not timed and cfg.max_minutes is not None and total_s > cfg.max_minutes * 60 and epoch + 1 < o.epochs:
            log.warning("time budget of %.0f min reached after epoch %d; stopping (re-run to continue)",
                        cfg.max_minutes, epoch + 1)
            stopped_early = True
            break
    del stream  # stops the loader processes
    total_s = elapsed_before + (time.time() - t_start)
    summary = {
        "run_dir": str(run),
        "best_score": best,
        "epochs_done": len(history),
        "train_seconds_total": total_s,
        "stopped_early": stopped_early,
        "time_budget_used_up": time_up,
        "steps_done": history[-1]["step"] if history else 0,
        "best_dir": str(run / "best"),
        "last_dir": str(run / "last"),
    }
    atomic_write_text(run / "summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, help="training config YAML (configs/train_*.yaml)")
    p.add_argument("--out", help="run folder (default runs/train/<name>); an existing run there is resumed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="override the config's device")
    p.add_argument("--loader-workers", type=int, help="override the config's loader_workers (0 = no extra processes)")


def main(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = load_train_config(args.config)
    machine: dict[str, Any] = {}  # machine settings: not part of the run's identity (fingerprint)
    if args.device:
        machine["device"] = args.device
    if args.loader_workers is not None:
        machine["loader_workers"] = max(0, args.loader_workers)
    if machine:
        cfg = TrainConfig.model_validate({**cfg.model_dump(), **machine})
    out = args.out or str(Path("runs") / "train" / cfg.name)
    s = train(cfg, out, progress=not args.no_progress, config_source=str(args.config))
    log.info("done: best score %.4f after %d epochs, %.1f min; model artifact in %s",
             s["best_score"], s["epochs_done"], s["train_seconds_total"] / 60, s["best_dir"])
    return 0
