"""Training configs: the shipped recipe is valid, unknown keys are rejected, and the run identity (fingerprint)."""

from __future__ import annotations

from pathlib import Path

import yaml

from vitiseg.training.config import load_train_config

from helpers import REPO, assert_config_error, tiny_train_config


def test_shipped_recipe_configs_are_valid() -> None:
    paths = sorted((REPO / "configs").rglob("train_*.yaml"))
    assert paths
    for p in paths:
        cfg = load_train_config(p)
        assert cfg.architecture.encoder == "mobilenet_v2" and cfg.data.sources, p


def test_unknown_key_and_bad_values_are_rejected(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    d = tiny_train_config(tmp_path).model_dump(mode="json")
    d["optim"]["learning_rate"] = 0.1
    assert_config_error(load_train_config, p, yaml.safe_dump(d), "unknown key 'optim.learning_rate'")
    d = tiny_train_config(tmp_path).model_dump(mode="json")
    d["data"]["sources"][0]["kind"] = "coco"
    assert_config_error(load_train_config, p, yaml.safe_dump(d), "kind")
    d["data"]["sources"] = [{"name": "a", "kind": "classes", "path": "x"}, {"name": "a", "kind": "skin", "path": "y"}]
    assert_config_error(load_train_config, p, yaml.safe_dump(d), "source names must be unique")
    assert_config_error(load_train_config, p, "name: [unclosed\n", "cannot read training config")


def test_fingerprint_is_the_runs_identity(tmp_path: Path) -> None:
    cfg = tiny_train_config(tmp_path)
    fp = cfg.fingerprint()
    # machine settings and the run's length do not change the identity (a run resumes or is extended in place)
    machine = {"device": "cuda", "threads": 8, "loader_workers": 4, "mixed_precision": "off",
               "channels_last": not cfg.channels_last, "max_minutes": 5.0,
               "optim": cfg.optim.model_copy(update={"epochs": 99})}
    assert cfg.model_copy(update=machine).fingerprint() == fp
    # the defaults of later options keep the identity of runs made before them
    assert cfg.model_copy(update={"loss": cfg.loss.model_copy(update={"fn_weight": 0.5})}).fingerprint() == fp
    assert cfg.model_copy(update={"data": cfg.data.model_copy(update={"on_device": False})}).fingerprint() == fp
    # anything that changes the batches or the loss does
    for change in ({"seed": 1}, {"loss": cfg.loss.model_copy(update={"fn_weight": 0.7})},
                   {"data": cfg.data.model_copy(update={"on_device": True})},
                   {"optim": cfg.optim.model_copy(update={"lr": 0.01})}):
        assert cfg.model_copy(update=change).fingerprint() != fp, change
