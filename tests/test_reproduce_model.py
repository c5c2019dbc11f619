"""The one-command reproduction of the shipped model: its stages chain, and the shipped weights match the last one."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

from vitiseg.train import load_train_config

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("reproduce_model", REPO / "scripts" / "reproduce_model.py")
rm = importlib.util.module_from_spec(spec)
sys.modules["reproduce_model"] = rm  # dataclasses look their module up
spec.loader.exec_module(rm)


def test_stages_chain_their_weights_and_data():
    for k, st in enumerate(rm.STAGES):
        cfg = load_train_config(REPO / st.config)
        synth = [s for s in cfg.data.sources if s.kind == "classes"]
        assert [s.path for s in synth] == [st.synth.out], st.config
        if k == 0:
            assert cfg.init_weights is None
        else:
            assert cfg.init_weights is not None and cfg.init_weights.startswith(rm.STAGES[k - 1].run + "/"), st.config
        assert st.export in ("best", "last")


def test_shipped_model_was_trained_by_the_last_stage_config():
    shipped = json.loads((REPO / "models" / "vitiseg-unet-mnv2" / "config.json").read_text())
    last = rm.STAGES[-1]
    assert shipped["training"]["config_source"] == last.config
    assert shipped["training"]["config_fingerprint"] == load_train_config(REPO / last.config).fingerprint()
    # ... and is the weight average of the recipe's AVERAGE artifacts, in that order
    assert [e["path"] for e in shipped["training"]["weight_average_of"]] == list(rm.AVERAGE)
    # the model card names the shipped weights by their hash
    import hashlib

    sha = hashlib.sha256((REPO / "models" / "vitiseg-unet-mnv2" / "model.safetensors").read_bytes()).hexdigest()
    assert sha in (REPO / "models" / "vitiseg-unet-mnv2" / "README.md").read_text()


def test_dry_run_lists_every_step(capsys):
    assert rm.main(["--dry-run", "--workers", "3", "--install", "models/vitiseg-unet-mnv2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert sum(" synth dataset " in x for x in lines) == 3  # synth_unet, synth_v3, synth_v4 rendered once each
    assert [x.split("--config ")[1].split()[0] for x in lines if " train --config " in x] == [s.config for s in rm.STAGES]
    assert "scripts/average_models.py --out runs/train/vitiseg-unet-mnv2-avg7" in lines[-3]
    assert all(a in lines[-3] for a in rm.AVERAGE) and all(a.startswith(rm.STAGES[-1].run) or
                                                             a.startswith(rm.STAGES[-2].run) for a in rm.AVERAGE)
    assert lines[-2].startswith("cp runs/train/vitiseg-unet-mnv2-avg7/config.json")
    assert "evaluate_model_card.py" in lines[-1] and "--card models/vitiseg-unet-mnv2/README.md" in lines[-1]
