"""Training runs: a tiny run learns, exports its best and last epochs as model folders, resumes exactly, and refuses
another config in its folder; the same with device batches; machine overrides from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

import torch
import yaml

from vitiseg.cli import main as cli_main
from vitiseg.config import ConfigError
from vitiseg.segmentation.unet import UNetSegmenter
from vitiseg.training.config import load_train_config
from vitiseg.training.trainer import train

from helpers import tiny_train_config


def _history(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"]


def test_tiny_training_learns_exports_and_resumes(tmp_path: Path, proc_dataset: Path) -> None:
    cfg = tiny_train_config(proc_dataset)
    full = train(cfg, tmp_path / "full", progress=False)
    hist = _history(tmp_path / "full")
    assert [h["epoch"] for h in hist] == [1, 2] and hist[1]["train_loss"] < hist[0]["train_loss"]
    assert full["epochs_done"] == 2 and full["steps_done"] == 16
    assert hist[0]["val"]["sources"]["proc"]["n"] == 2 and hist[0]["val"]["sources"]["proc"]["kind"] == "classes"
    ck = torch.load(tmp_path / "full" / "last.pt", weights_only=False)
    assert ck["epoch"] == 2 and len(ck["history"]) == 2 and ck["fingerprint"] == cfg.fingerprint()
    # best/ is the epoch with the highest validation score, with the colour normalisation it was trained with
    best = UNetSegmenter.load(tmp_path / "full" / "best", device="cpu")
    scores = [h["val"]["score"] for h in hist]
    assert best.cfg.training["epoch"] == 1 + scores.index(max(scores)) and full["best_score"] == max(scores)
    assert best.cfg.colour_normalisation == cfg.colour_normalisation and best.cfg.input_long_side == 64
    # the latest epoch is exported too, as a loadable model folder holding exactly last.pt's weights
    last = UNetSegmenter.load(tmp_path / "full" / "last", device="cpu")
    assert last.cfg.training["epoch"] == 2 and full["last_dir"] == str(tmp_path / "full" / "last")
    for k, v in last.net.state_dict().items():
        assert torch.equal(v, ck["model"][k]), k
    assert (tmp_path / "full" / "splits" / "proc_val.txt").read_text().split() == ["proc_0006", "proc_0007"]
    assert yaml.safe_load((tmp_path / "full" / "config.yaml").read_text())["name"] == "tiny"

    # interrupted after epoch 1 (time budget), then resumed with the same command
    part = train(cfg.model_copy(update={"max_minutes": 1e-9}), tmp_path / "part", progress=False)
    assert part["stopped_early"] and part["epochs_done"] == 1
    resumed = train(cfg, tmp_path / "part", progress=False)
    assert resumed["epochs_done"] == 2
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k  # resuming reproduces the uninterrupted run exactly
    assert [h["train_loss"] for h in _history(tmp_path / "part")] == [h["train_loss"] for h in hist]

    # a finished run can be extended in place (more epochs), and another run can start from its weights
    ext = train(cfg.model_copy(update={"optim": cfg.optim.model_copy(update={"epochs": 3})}), tmp_path / "part",
                progress=False)
    assert ext["epochs_done"] == 3 and [h["epoch"] for h in _history(tmp_path / "part")] == [1, 2, 3]
    init = cfg.model_copy(update={"init_weights": str(tmp_path / "full" / "best" / "model.safetensors"),
                                  "optim": cfg.optim.model_copy(update={"epochs": 1, "steps_per_epoch": 2})})
    assert train(init, tmp_path / "init", progress=False)["epochs_done"] == 1
    assert "initialised weights from" in (tmp_path / "init" / "train.log").read_text()

    # a different config in the same run folder is refused
    with pytest.raises(ConfigError, match="different config"):
        train(cfg.model_copy(update={"seed": 1}), tmp_path / "part", progress=False)


def test_on_device_batches_learn_and_resume(tmp_path: Path, proc_dataset: Path) -> None:
    base = tiny_train_config(proc_dataset)
    cfg = base.model_copy(update={"data": base.data.model_copy(update={"on_device": True})})
    full = train(cfg, tmp_path / "full", progress=False)
    hist = _history(tmp_path / "full")
    assert full["epochs_done"] == 2 and hist[1]["train_loss"] < hist[0]["train_loss"]
    assert "device banks:" in (tmp_path / "full" / "train.log").read_text()
    part = train(cfg.model_copy(update={"max_minutes": 1e-9}), tmp_path / "part", progress=False)
    assert part["epochs_done"] == 1
    train(cfg, tmp_path / "part", progress=False)
    a, b = _weights(tmp_path / "full" / "last.pt"), _weights(tmp_path / "part" / "last.pt")
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_cli_machine_overrides_keep_the_run_identity(tmp_path: Path, proc_dataset: Path) -> None:
    d = tiny_train_config(proc_dataset).model_dump(mode="json")
    d["loader_workers"] = 6
    d["optim"].update(epochs=1, steps_per_epoch=2)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    run = tmp_path / "run"
    assert cli_main(["train", "--config", str(p), "--out", str(run), "--no-progress",
                     "--loader-workers", "0", "--device", "cpu"]) == 0
    used = yaml.safe_load((run / "config.yaml").read_text())
    assert used["loader_workers"] == 0 and used["device"] == "cpu"
    shipped = json.loads((run / "best" / "config.json").read_text())
    assert shipped["training"]["config_fingerprint"] == load_train_config(p).fingerprint()
    assert shipped["training"]["config_source"] == str(p) and shipped["training"]["device"] == "cpu"
