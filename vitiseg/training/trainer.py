"""U-Net training (``vitiseg train --config CONFIG.yaml [--out RUN_DIR]``).

The config (:class:`~.config.TrainConfig`, unknown keys rejected) names the data sources (:mod:`.data`), the
architecture, input scale, augmentation, loss, optimiser, schedule and seed. Training is

- **sampled, not epoch-over-files**: each step draws ``batch_size`` samples, source by ``weight`` then a sample
  uniformly, from a generator seeded by ``(seed, step)``; an "epoch" is ``steps_per_epoch`` steps. A resumed run
  therefore sees exactly the batches an uninterrupted run would have seen.
- **on colour-normalised photos** (:func:`vitiseg.colour.normalise` with the config's settings, recorded in the model
  config), resized so the long side is ``input_long_side`` x a random scale, then cropped to ``crop_size``.
- **partial-label aware**: the loss is ``ce_weight * CE + dice_weight * Dice``, where CE is ``-log sum_{c allowed} p_c``
  over each pixel's allowed class set (so coarse lesion polygons say "lesion" inside and only "not lesion" outside,
  and unknown pixels are ignored), and the soft Dice of each class in ``dice_classes`` is computed over the pixels
  whose membership of that class is known (``loss.fn_weight`` > 0.5 turns it into a recall-leaning Tversky loss).

After each epoch the model is validated on every source's ``val`` split with :mod:`vitiseg.evaluation` (the same
segmentation path and metric code as ``vitiseg evaluate``); the best checkpoint by mean pooled Dice of the depigmented class (over val sources
that label lesions) is exported as a model artifact to ``RUN_DIR/best``, and the latest epoch to ``RUN_DIR/last``
(the one to ship when a run's schedule has decayed and picking on the small validation sample would be noise).
``RUN_DIR/last.pt`` (model, optimiser, schedule, step, history) is written after every epoch; re-running the same
command resumes from it.
Outputs: ``RUN_DIR/{config.yaml, metrics.jsonl, train.log, splits/*.txt, last.pt, best/, last/}`` (and
``encoder_init.json`` when ``encoder_init`` names ImageNet weights, :mod:`.pretrained`).
"""

from __future__ import annotations

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
import yaml
from tqdm import tqdm

from ..config import ConfigError
from ..evaluation.runner import default_work_long_side, evaluate_array, summarise
from ..io.files import atomic_write_bytes, atomic_write_text, sha256_file
from ..io.images import image_size, read_rgb
from ..segmentation.artifact import ModelConfig, build_network, save_artifact
from ..segmentation.unet import UNetSegmenter
from . import data as ds
from .batches import Sampler, batches, device_stream, network_input
from ..usage import require_device, require_input_file, require_output_dir
from .config import TrainConfig, load_train_config
from .loss import partial_loss
from .schedule import lr_at

log = logging.getLogger(__name__)


def _eval_gt(sample: ds.Sample, target: np.ndarray) -> tuple[np.ndarray, str]:
    """Bit-mask target -> ground truth in :mod:`vitiseg.evaluation` form and its mask kind."""
    if sample.kind == "classes":
        return (np.log2(target).astype(np.uint8)), "classes"
    if sample.kind == "skin":
        return np.where(target == ds.SKIN_BIT, 255, 0).astype(np.uint8), "skin"
    return np.where(target == ds.DEPIG_BIT, 255, 0).astype(np.uint8), "lesion"


def validate(seg: UNetSegmenter, cfg: TrainConfig, splits: dict[str, dict[str, list[ds.Sample]]]) -> dict[str, Any]:
    """Per-source validation summaries and the selection score (mean pooled depigmented Dice).

    Each val photo is segmented exactly as ``vitiseg run`` would (:func:`vitiseg.evaluation.runner.evaluate_array`)."""
    out: dict[str, Any] = {"sources": {}}
    scores = []
    work = default_work_long_side()
    for src in cfg.data.sources:
        val = splits[src.name]["val"][: cfg.val.max_images_per_source]
        if not val:
            continue
        rows, kind = [], "classes"
        for s in val:
            rgb = read_rgb(s.image, reduce_to_long_side=work)  # as vitiseg run reads it
            gt, kind = _eval_gt(s, ds.load_target(s, *image_size(s.image)))
            rows.append(evaluate_array(seg, s.id, rgb, gt, kind, work))  # type: ignore[arg-type]
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
    if cfg.device == "cuda" and device.type == "cpu":
        log.warning("the config asks for device cuda but none is available: training on the CPU")
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
    encoder_prov = None
    if cfg.encoder_init != "random":  # ImageNet encoder weights for a fresh run (the train extra's package)
        from .pretrained import encoder_init_for_run

        encoder_prov = encoder_init_for_run(cfg.encoder_init, net, run, fresh=not ckpt_path.is_file())
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
        if encoder_prov:
            training["encoder_init"] = encoder_prov
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


def train_command(config: Path, out: Path | None = None, device: str | None = None, loader_workers: int | None = None,
                  progress: bool = True) -> int:
    """``vitiseg train``: train or resume the run of ``config`` in ``out`` (default ``runs/train/<name>``).

    ``device`` and ``loader_workers`` are machine settings: they override the config without changing the run's
    identity. Exit code 0, or 2 with one line for a bad config."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require_input_file(config, "training config (--config)")
    require_device(device or "auto")  # the flag; a config asking for cuda falls back to the CPU with a log line
    try:
        cfg = load_train_config(config)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    machine: dict[str, Any] = {}  # machine settings: not part of the run's identity (fingerprint)
    if device:
        machine["device"] = device
    if loader_workers is not None:
        machine["loader_workers"] = max(0, loader_workers)
    if machine:
        cfg = TrainConfig.model_validate({**cfg.model_dump(), **machine})
    run_dir = require_output_dir(out or Path("runs") / "train" / cfg.name)
    s = train(cfg, run_dir, progress=progress, config_source=str(config))
    log.info("done: best score %.4f after %d epochs, %.1f min; model artifact in %s",
             s["best_score"], s["epochs_done"], s["train_seconds_total"] / 60, s["best_dir"])
    return 0
