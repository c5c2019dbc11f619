"""The one-command reproduction of the shipped model: its stages chain, and the shipped weights match the last one."""

from __future__ import annotations

import hashlib
import json

import pytest

from vitiseg.training.config import load_train_config

from helpers import REPO, load_script

rm = load_script("scripts/reproduce_model.py")
SHIPPED = REPO / "vitiseg" / "models" / "vitiseg-unet-mnv2"


def test_stages_chain_their_weights_and_data() -> None:
    for k, st in enumerate(rm.STAGES):
        cfg = load_train_config(REPO / st.config)
        synth = [s for s in cfg.data.sources if s.kind == "classes"]
        assert [s.path for s in synth] == [st.synth.out], st.config
        if k == 0:
            assert cfg.init_weights is None
        else:
            prev = rm.STAGES[k - 1]  # its best/ or last/ model folder, or its last.pt checkpoint
            assert cfg.init_weights is not None and cfg.init_weights.startswith(prev.run + "/"), st.config
        assert st.export in ("best", "last")


def test_shipped_model_was_trained_by_the_last_stage_config() -> None:
    if not (SHIPPED / "model.safetensors").is_file():
        pytest.skip("no shipped model")
    shipped = json.loads((SHIPPED / "config.json").read_text())
    last = rm.STAGES[-1]
    assert shipped["training"]["config_source"] == last.config
    assert shipped["training"]["config_fingerprint"] == load_train_config(REPO / last.config).fingerprint()
    # ... and is the weight average of the recipe's AVERAGE artifacts, in that order
    assert [e["path"] for e in shipped["training"]["weight_average_of"]] == list(rm.AVERAGE)
    # the model card names the shipped weights by their hash
    sha = hashlib.sha256((SHIPPED / "model.safetensors").read_bytes()).hexdigest()
    assert sha in (SHIPPED / "README.md").read_text()


def test_dry_run_lists_every_step(capsys: pytest.CaptureFixture) -> None:
    assert rm.main(["--dry-run", "--workers", "3", "--install", "vitiseg/models/vitiseg-unet-mnv2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(" synth dataset " in x for x in lines) == len({st.synth for st in rm.STAGES})  # each set rendered once
    trained = [x.split("--config ")[1].split()[0] for x in lines if " train --config " in x]
    assert trained == [s.config for s in rm.STAGES]
    assert f"scripts/average_models.py --out {rm.AVERAGE_OUT}" in lines[-4]
    assert all(a in lines[-4] for a in rm.AVERAGE) and all(a.startswith((rm.STAGES[-1].run, rm.STAGES[-2].run))
                                                             for a in rm.AVERAGE)
    assert lines[-3].startswith(f"cp {rm.AVERAGE_OUT}/config.json")
    assert lines[-2].endswith(" -m vitiseg model export vitiseg/models/vitiseg-unet-mnv2")
    assert "evaluate_model_card.py" in lines[-1] and "--card vitiseg/models/vitiseg-unet-mnv2/README.md" in lines[-1]
