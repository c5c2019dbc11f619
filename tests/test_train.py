"""Training: config validation, partial-label loss, data splits by source photo, a tiny resumable run."""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from vitiseg import datasets as ds
from vitiseg.config import ConfigError
from vitiseg.model import UNetSegmenter
from vitiseg.train import LossConfig, TrainConfig, load_train_config, lr_at, partial_loss, train

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real_vitiligo_dev"


def _tiny_cfg(data: Path, **over) -> TrainConfig:
    d = {
        "name": "tiny",
        "seed": 0,
        "threads": 1,
        "device": "cpu",
        "input_long_side": 64,
        "architecture": {"encoder": "mobilenet_v2", "decoder_channels": [32, 16, 16, 8, 8]},
        "data": {
            "crop_size": 64,
            "sources": [{"name": "proc", "kind": "classes", "path": str(data), "train_splits": ["train"],
                         "val_splits": ["val"]}],
        },
        "augment": {"scale_range": [1.0, 1.0], "blur_prob": 0.0},
        "optim": {"batch_size": 4, "epochs": 2, "steps_per_epoch": 8, "warmup_steps": 0, "lr": 0.003,
                  "schedule": "constant"},
        "val": {"max_images_per_source": 2},
    }
    for k, v in over.items():
        d[k] = v
    return TrainConfig.model_validate(d)


@pytest.fixture(scope="module")
def proc(tmp_path_factory):
    return ds.write_procedural_dataset(tmp_path_factory.mktemp("proc"), n=8, size=64, seed=0)


def test_shipped_recipe_config_is_valid():
    for p in sorted((REPO / "configs").glob("train_*.yaml")):
        cfg = load_train_config(p)
        assert cfg.architecture.encoder and cfg.data.sources


def test_unknown_key_rejected(tmp_path, proc):
    d = _tiny_cfg(proc).model_dump(mode="json")
    d["optim"]["learning_rate"] = 0.1
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="learning_rate"):
        load_train_config(p)
    d = _tiny_cfg(proc).model_dump(mode="json")
    d["data"]["sources"][0]["kind"] = "coco"
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match="kind"):
        load_train_config(p)


def test_partial_loss_ignores_unknown_and_respects_sets():
    torch.manual_seed(0)
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    allowed = torch.full((1, 4, 4), ds.UNKNOWN, dtype=torch.uint8)
    allowed[0, 0, 0] = ds.DEPIG_BIT
    loss, _ = partial_loss(logits, allowed, LossConfig(dice_weight=0.0))
    loss.backward()
    g = logits.grad[0].abs().sum(0)
    assert g[0, 0] > 0 and float(g.sum() - g[0, 0]) == 0.0  # unknown pixels get no gradient
    expected = -float(torch.log_softmax(logits.detach()[0, :, 0, 0], 0)[2])
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    # "not depigmented": the loss is -log(p_bg + p_skin), indifferent to how bg/skin share it
    a = torch.tensor([[[[5.0]], [[-5.0]], [[-5.0]]]])
    b = torch.tensor([[[[-5.0]], [[5.0]], [[-5.0]]]])
    t = torch.full((1, 1, 1), ds.NOT_DEPIG, dtype=torch.uint8)
    la, _ = partial_loss(a, t, LossConfig(dice_weight=0.0))
    lb, _ = partial_loss(b, t, LossConfig(dice_weight=0.0))
    assert float(la) == pytest.approx(float(lb)) and float(la) < 1e-3
    # a perfect prediction has ~zero total loss
    perfect = torch.tensor([[[[20.0]], [[-20.0]], [[-20.0]]]])
    lp, parts = partial_loss(perfect, torch.full((1, 1, 1), ds.BG_BIT, dtype=torch.uint8), LossConfig())
    assert float(lp) < 1e-3


def _one_hot_logits(classes: list[int]) -> torch.Tensor:
    """(1, 3, 1, W) logits that put probability ~1 on the given class of each pixel."""
    return torch.stack([torch.tensor([[20.0 if c == k else -20.0 for c in classes]]) for k in range(3)])[None]


def test_dice_term_exact_and_tversky_leans_to_recall():
    # truth: 4 depigmented pixels then 4 skin pixels; "miss" predicts 2 of the 4 lesion pixels (2 FN),
    # "alarm" predicts all 4 plus 2 skin pixels as depigmented (2 FP)
    truth = torch.tensor([[[ds.DEPIG_BIT] * 4 + [ds.SKIN_BIT] * 4]], dtype=torch.uint8)
    miss = _one_hot_logits([2, 2, 1, 1, 1, 1, 1, 1])
    alarm = _one_hot_logits([2, 2, 2, 2, 2, 2, 1, 1])
    dice_only = dict(ce_weight=0.0, dice_classes=[2])
    # soft Dice of class 2 with smoothing 1: 1 - (2*2 + 1) / (2 + 4 + 1) for the miss, 1 - (2*4 + 1) / (6 + 4 + 1)
    lm, _ = partial_loss(miss, truth, LossConfig(**dice_only))
    la, _ = partial_loss(alarm, truth, LossConfig(**dice_only))
    assert float(lm) == pytest.approx(1 - 5 / 7, abs=1e-6) and float(la) == pytest.approx(1 - 9 / 11, abs=1e-6)
    # fn_weight 0.8: 1 - (2 + .5) / (2 + .8*2 + .5) vs 1 - (4 + .5) / (4 + .2*2 + .5)
    lm8, _ = partial_loss(miss, truth, LossConfig(fn_weight=0.8, **dice_only))
    la8, _ = partial_loss(alarm, truth, LossConfig(fn_weight=0.8, **dice_only))
    assert float(lm8) == pytest.approx(1 - 2.5 / 4.1, abs=1e-6) and float(la8) == pytest.approx(1 - 4.5 / 4.9, abs=1e-6)
    assert float(lm8) > float(lm) and float(la8) < float(la)


def test_default_fn_weight_keeps_run_identity():
    cfg = load_train_config(REPO / "configs" / "train_unet_mnv2_gpu3.yaml")
    assert cfg.loss.fn_weight == 0.5
    tv = cfg.model_copy(update={"loss": cfg.loss.model_copy(update={"fn_weight": 0.7})})
    assert tv.fingerprint() != cfg.fingerprint()


def test_lr_schedule():
    o = _tiny_cfg(Path(".")).optim.model_copy(update={"schedule": "cosine", "warmup_steps": 4, "min_lr": 0.0})
    assert lr_at(0, o) == pytest.approx(o.lr / 4)
    assert lr_at(4, o) == pytest.approx(o.lr)
    assert lr_at(15, o) < lr_at(8, o) < o.lr
    assert lr_at(5, o, time_frac=1.0) == pytest.approx(0.0)  # time-paced decay runs ahead of the steps
    assert lr_at(5, o, time_frac=0.0) == lr_at(5, o)


def test_source_group_and_split_by_photo():
    assert ds.source_group("0108946f-32c70e1a_jpg.rf.7e48") == "32c70e1a_jpg"
    assert ds.source_group("abc-roi64_jpg.rf.1") == ds.source_group("xyz-roi64_jpg.rf.2")
    assert ds.source_group("plain") == "plain"
    groups = [f"g{i}" for i in range(10)]
    val = ds.group_val_set(groups, 0.3, 0)
    assert len(val) == 3 and val == ds.group_val_set(list(reversed(groups)), 0.3, 0)


def test_real_polygons_split_has_no_source_leak():
    if not REAL.is_dir():
        pytest.skip("real_vitiligo_dev not available")
    by = ds.list_samples(ds.SourceConfig(name="r", kind="lesion", path=str(REAL), val_fraction=0.3))
    tr, va = {s.group for s in by["train"]}, {s.group for s in by["val"]}
    assert tr and va and not (tr & va)
    assert len(by["train"]) + len(by["val"]) == len(list((REAL / "images").iterdir()))


def test_yolo_source(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    from vitiseg.images import write_jpeg

    write_jpeg(tmp_path / "images" / "a-p1.rf.x.jpg", np.full((40, 40, 3), 120, np.uint8))
    write_jpeg(tmp_path / "images" / "b-p2.rf.y.jpg", np.full((40, 40, 3), 120, np.uint8))
    (tmp_path / "labels" / "a-p1.rf.x.txt").write_text("0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")
    by = ds.list_samples(ds.SourceConfig(name="y", kind="yolo", path=str(tmp_path), val_fraction=0.5))
    assert len(by["train"]) == 1 and len(by["val"]) == 1
    s = next(x for x in by["train"] + by["val"] if x.id == "a-p1.rf.x")
    t = ds.load_target(s, 40, 40)
    assert t[20, 20] == ds.DEPIG_BIT and t[2, 2] == ds.NOT_DEPIG
    assert abs(int((t == ds.DEPIG_BIT).sum()) - 400) < 60
    other = next(x for x in by["train"] + by["val"] if x.id == "b-p2.rf.y")
    assert (ds.load_target(other, 40, 40) == ds.NOT_DEPIG).all()  # no label file = no lesion


def test_targets_of_each_kind(proc):
    s = ds.list_samples(ds.SourceConfig(name="p", kind="classes", path=str(proc), train_splits=["train"],
                                        val_splits=["val"]))
    assert len(s["train"]) == 6 and len(s["val"]) == 2
    rgb, t = ds.load_sample(s["train"][0], ds.NormaliseConfig())
    assert rgb.shape == (64, 64, 3) and set(np.unique(t)) <= {1, 2, 4}
    img, tc = ds.augment_crop(rgb, t, np.random.default_rng(0), 48, 64, ds.AugmentConfig())
    assert img.shape == (64, 64, 3) and tc.shape == (64, 64)
    assert set(np.unique(tc)) <= {1, 2, 4, ds.UNKNOWN} and (tc == ds.UNKNOWN).any()  # padding is unknown


def test_tiny_training_learns_and_resumes(tmp_path, proc):
    cfg = _tiny_cfg(proc)
    full = train(cfg, tmp_path / "full", progress=False)
    hist = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert len(hist) == 2 and hist[1]["train_loss"] < hist[0]["train_loss"]
    assert (tmp_path / "full" / "last.pt").is_file() and full["epochs_done"] == 2
    seg = UNetSegmenter.load(tmp_path / "full" / "best", device="cpu")
    assert seg.cfg.colour_normalisation.method == "shades_of_grey"
    # the latest epoch is exported too, as a loadable artifact holding exactly last.pt's weights
    last = UNetSegmenter.load(tmp_path / "full" / "last", device="cpu")
    assert last.cfg.training["epoch"] == 2 and full["last_dir"] == str(tmp_path / "full" / "last")
    ck = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    for k, v in last.net.state_dict().items():
        assert torch.equal(v, ck[k]), k
    assert (tmp_path / "full" / "splits" / "proc_val.txt").read_text().split() == ["proc_0006", "proc_0007"]

    # interrupted after epoch 1 (time budget), then resumed with the same command
    part = train(cfg.model_copy(update={"max_minutes": 1e-9}), tmp_path / "part", progress=False)
    assert part["stopped_early"] and part["epochs_done"] == 1
    resumed = train(cfg, tmp_path / "part", progress=False)
    assert resumed["epochs_done"] == 2
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "part" / "last.pt", weights_only=False)["model"]
    for k in a:
        assert torch.equal(a[k], b[k]), k  # resuming reproduces the uninterrupted run exactly

    # a finished run can be extended in place (more epochs), and another run can start from its weights
    ext = train(cfg.model_copy(update={"optim": cfg.optim.model_copy(update={"epochs": 3})}), tmp_path / "part",
                progress=False)
    assert ext["epochs_done"] == 3
    init = cfg.model_copy(update={"init_weights": str(tmp_path / "full" / "best" / "model.safetensors"),
                                  "optim": cfg.optim.model_copy(update={"epochs": 1, "steps_per_epoch": 2})})
    assert train(init, tmp_path / "init", progress=False)["epochs_done"] == 1
    assert "initialised weights from" in (tmp_path / "init" / "train.log").read_text()

    # a different config in the same run folder is refused
    with pytest.raises(ConfigError, match="different config"):
        train(cfg.model_copy(update={"seed": 1}), tmp_path / "part", progress=False)


def test_loader_processes_give_the_same_batches(proc):
    from vitiseg.train import Sampler, batches

    cfg = _tiny_cfg(proc)
    sampler = Sampler(cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    steps = range(5, 11)
    here = list(batches(sampler, steps, 0, False))
    spawned = list(batches(sampler, steps, 2, False))
    assert len(here) == len(spawned) == 6
    for (xa, ta), (xb, tb) in zip(here, spawned):
        assert torch.equal(xa, xb) and torch.equal(ta, tb)
    assert not torch.equal(here[0][0], here[1][0])  # batches differ from step to step
    # loader_workers / mixed_precision do not change the run's identity (a run may resume on another machine)
    machine = {"loader_workers": 4, "mixed_precision": "off", "channels_last": not cfg.channels_last}
    assert cfg.model_copy(update=machine).fingerprint() == cfg.fingerprint()


def test_benchmark_script_smoke(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_benchmark", REPO / "scripts" / "train_benchmark.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rc = mod.main(["--procedural", "--work", str(tmp_path), "--n", "8", "--epochs", "2", "--steps", "6",
                   "--batch", "4", "--threads", "1", "--min-dice", "0.0", "--max-loss-ratio", "0.95"])
    assert rc == 0
    assert (tmp_path / "eval" / "summary.json").is_file()


def test_cli_machine_overrides_keep_the_run_identity(tmp_path, proc):
    from vitiseg.cli import main as vitiseg_main

    d = _tiny_cfg(proc).model_dump(mode="json")
    d["loader_workers"] = 6
    d["optim"].update(epochs=1, steps_per_epoch=2)
    p = tmp_path / "c.yaml"
    p.write_text(yaml.safe_dump(d))
    run = tmp_path / "run"
    assert vitiseg_main(["train", "--config", str(p), "--out", str(run), "--no-progress",
                         "--loader-workers", "0", "--device", "cpu"]) == 0
    used = yaml.safe_load((run / "config.yaml").read_text())
    assert used["loader_workers"] == 0 and used["device"] == "cpu"
    shipped = json.loads((run / "best" / "config.json").read_text())
    assert shipped["training"]["config_fingerprint"] == load_train_config(p).fingerprint()


def test_channels_last_layout_computes_the_same_loss_and_gradients(proc):
    """NHWC is a memory layout: one training step's loss and gradients equal the NCHW ones up to float rounding.
    (Whole runs drift apart: Adam turns rounding-level gradient differences into lr-sized steps.)"""
    import copy

    from vitiseg.model import build_network
    from vitiseg.train import Sampler, network_input

    cfg = _tiny_cfg(proc)
    sampler = Sampler(cfg, {s.name: ds.list_samples(s) for s in cfg.data.sources})
    x, t = sampler.batch(0)
    torch.manual_seed(0)
    nchw = build_network(cfg.architecture).train()
    nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
    inp = network_input(x, cfg.input_norm)
    la, _ = partial_loss(nchw(inp), t, cfg.loss)
    lb, _ = partial_loss(nhwc(inp.contiguous(memory_format=torch.channels_last)), t, cfg.loss)
    la.backward()
    lb.backward()
    torch.testing.assert_close(la, lb, rtol=1e-5, atol=1e-6)
    for (name, pa), (_, pb) in zip(nchw.named_parameters(), nhwc.named_parameters()):
        torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-3, atol=1e-5, msg=name)
