"""``vitiseg synth dataset``: the folder contract, resume, determinism across processes, the split rule, tone shift."""

from __future__ import annotations

import csv
import json

import numpy as np

from vitiseg.cli import main as vitiseg_main
from vitiseg.io.images import read_mask, read_rgb
from vitiseg.synth import backgrounds as bgm
from vitiseg.synth.render import truth_from_mask

from helpers import SHARED_DATA, fake_skin_root as _fake_skin_root, needs_skin, synth_dataset as _dataset


def test_dataset_contract_resume_and_determinism(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    out = tmp_path / "ds"
    assert _dataset(root, out, 12) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [r["id"] for r in rows] == [f"s{i:06d}" for i in range(12)]
    assert list(rows[0]) == ["id", "set", "background", "split", "fraction", "skin_px", "depigmented_px", "ita_deg",
                             "kind"]
    refs = {(r.set, r.bg_id): r for r in bgm.list_backgrounds(root, ("fake_faces", "fake_hands"))}
    for r in rows:
        cls = read_mask(out / "masks" / f"{r['id']}.png")
        img = read_rgb(out / "images" / f"{r['id']}.jpg")
        truth = json.loads((out / "truth" / f"{r['id']}.json").read_text())
        assert img.shape == (64, 64, 3) and cls.shape == (64, 64)
        t = truth_from_mask(cls)
        assert (t["skin_px"], t["depigmented_px"]) == (int(r["skin_px"]), int(r["depigmented_px"]))
        assert (truth["skin_px"], truth["depigmented_px"]) == (t["skin_px"], t["depigmented_px"])
        assert abs(float(r["fraction"]) - t["fraction"]) < 1e-6
        assert r["split"] == refs[(r["set"], r["background"])].split
    before = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    # resume: remove one finished sample, re-run and grow: same bytes for the old ones
    (out / "truth" / "s000004.json").unlink()
    assert _dataset(root, out, 14) == 0
    after = {p.name: p.read_bytes() for p in (out / "images").iterdir()}
    assert all(after[k] == v for k, v in before.items()) and len(after) == 14
    # a second folder with the same seed is byte-identical
    out2 = tmp_path / "ds2"
    assert _dataset(root, out2, 14) == 0
    for sub in ("images", "masks", "truth"):
        for p in (out / sub).iterdir():
            assert p.read_bytes() == (out2 / sub / p.name).read_bytes(), p
    # rendering in 2 processes gives the same folder
    out3 = tmp_path / "ds3"
    assert _dataset(root, out3, 14, "--workers", "2") == 0
    for sub in ("images", "masks", "truth"):
        assert sorted(p.name for p in (out3 / sub).iterdir()) == sorted(p.name for p in (out / sub).iterdir())
        for p in (out / sub).iterdir():
            assert p.read_bytes() == (out3 / sub / p.name).read_bytes(), p
    assert (out3 / "index.csv").read_bytes() == (out / "index.csv").read_bytes()
    # other settings into the same folder are refused
    assert _dataset(root, out, 14, "--split", "train") == 2


def test_split_rule(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    refs = bgm.list_backgrounds(root, ("fake_faces", "fake_hands"))
    assert len({(r.set, r.bg_id) for r in refs}) == len(refs)  # one split per background
    faces = {r.bg_id: r.split for r in refs if r.set == "fake_faces"}
    for bid, s in faces.items():  # train/val only: val kept, test carved from train by hash
        orig = "train" if int(bid[-3:]) < 6 else "val"
        expect = "test" if orig == "train" and bgm.hash_bucket("fake_faces", bid) < 15 else orig
        assert s == expect
    for r in refs:
        if r.set == "fake_hands":
            b = bgm.hash_bucket("fake_hands", r.bg_id)
            assert r.split == ("train" if b < 70 else "val" if b < 85 else "test")


def test_dataset_tone_shift_option(tmp_path):
    root = _fake_skin_root(tmp_path / "skin")
    plain, shifted = tmp_path / "plain", tmp_path / "shifted"
    assert _dataset(root, plain, 10) == 0
    assert "tone_shift" not in json.loads((plain / "dataset.json").read_text())
    assert _dataset(root, shifted, 10, "--tone-shift", "1.0") == 0
    assert json.loads((shifted / "dataset.json").read_text())["tone_shift"] == 1.0
    ita = {d: [float(r["ita_deg"]) for r in csv.DictReader((d / "index.csv").open()) if r["ita_deg"]]
           for d in (plain, shifted)}
    assert np.mean(ita[shifted]) < np.mean(ita[plain]) - 10
    truths = [json.loads(p.read_text()) for p in sorted((shifted / "truth").iterdir())]
    assert any("tone_shift" in t for t in truths)
    # a folder is never grown with other tone settings, in either direction
    assert _dataset(root, plain, 12, "--tone-shift", "0.5") == 2
    assert _dataset(root, shifted, 12) == 2
    assert _dataset(root, shifted, 12, "--tone-shift", "1.0") == 0




@needs_skin
def test_real_backgrounds_splits_disjoint_and_dataset_runs(tmp_path):
    refs = bgm.list_backgrounds(SHARED_DATA / "skin")
    assert len({(r.set, r.bg_id) for r in refs}) == len(refs)
    for s in bgm.DEFAULT_SETS:
        assert {r.split for r in refs if r.set == s} == {"train", "val", "test"}, s
    out = tmp_path / "ds"
    assert vitiseg_main(["synth", "dataset", "--skin-root", str(SHARED_DATA / "skin"), "--out", str(out), "--n", "6",
                         "--seed", "0", "--split", "test"]) == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert len(rows) == 6 and all(r["split"] == "test" for r in rows)
    for r in rows:
        cls = read_mask(out / "masks" / f"{r['id']}.png")
        assert cls.shape == (384, 384) and int(r["depigmented_px"]) == int((cls == 2).sum())
