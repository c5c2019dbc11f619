"""``vitiseg synth cohort --background-split``: measuring cohorts draw only held-out backgrounds, training cohorts only
train ones, and ``scripts/cohort_training_set.py`` flattens a cohort into a ``classes`` training folder."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from vitiseg.io.images import read_mask
from vitiseg.synth.trial.render import generate_cohort
from vitiseg.training import data as ds

from helpers import SHARED_DATA, load_script, needs_skin


def _background_splits(truth) -> set[str]:
    out = set()
    for row in csv.DictReader(open(truth / "visits.csv", encoding="utf-8")):
        for k, v in row.items():
            if k.startswith("background_") and v:
                set_name, bg = v.split("/")
                out.add(ds.skin_splits(SHARED_DATA / "skin" / set_name)[bg])
    return out


def test_unknown_background_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown background split 'test'"):
        generate_cohort(tmp_path / "v", "ruxolitinib_wk12", seed=1, skin_root=tmp_path, patients=1,
                        progress=False, background_split="test")


@needs_skin
def test_train_cohort_uses_only_train_backgrounds_and_flattens(tmp_path):
    kw = dict(preset="ruxolitinib_wk12", seed=5, skin_root=SHARED_DATA / "skin", patients=2, size=256, progress=False)
    held = generate_cohort(tmp_path / "held", **kw)
    train = generate_cohort(tmp_path / "train", background_split="train", **kw)
    assert _background_splits(tmp_path / "held_truth") <= {"val", "test"}
    assert _background_splits(tmp_path / "train_truth") == {"train"}
    assert "background_split" not in held and train["background_split"] == "train"
    assert json.loads((tmp_path / "train_truth" / "summary.json").read_text())["background_split"] == "train"

    mod = load_script("scripts/cohort_training_set.py")
    rows = mod.flatten(tmp_path / "train", tmp_path / "train_truth", tmp_path / "flat")
    assert len(rows) == 2 * 2 * 7 and {r["split"] for r in rows} == {"train"}
    r = next(r for r in rows if r["id"] == "P001_baseline_hands")
    m = read_mask(tmp_path / "flat" / "masks" / "P001_baseline_hands.png")
    assert r["fraction"] == round(float(np.count_nonzero(m == 2)) / np.count_nonzero(m >= 1), 6)
    src = ds.SourceConfig(name="c", kind="classes", path=str(tmp_path / "flat"), train_splits=["train"])
    assert len(ds.list_samples(src)["train"]) == 28
