"""Issue 20 tools and recipe: the research configs validate, the one-command recipe prints its steps, and the
development harness, the ITA histogram and the timing script run on tiny models and data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from vitiseg.training.config import load_train_config

from helpers import REPO, load_script, save_tiny_unet, tiny_train_config

CONFIGS = REPO / "research" / "2026-12-01-segmenter" / "configs"


def test_research_configs_validate_and_differ_only_by_their_lever():
    base = load_train_config(CONFIGS / "short_lite0.yaml")
    tone = load_train_config(CONFIGS / "short_lite0_skintone.yaml")
    full = load_train_config(CONFIGS / "train_unet_lite0_issue20.yaml")
    assert base.encoder_init == tone.encoder_init == full.encoder_init == "imagenet_lite0"
    assert [s.tone_aug for s in base.data.sources] == [0.0] * 6
    assert [s.tone_aug for s in tone.data.sources] == [0.0, 0.0, 0.5, 0.5, 0.5, 0.5]
    b, t = base.model_dump(), tone.model_dump()
    for s in t["data"]["sources"]:
        s["tone_aug"] = 0.0
    assert {k: v for k, v in b.items() if k != "name"} == {k: v for k, v in t.items() if k != "name"}
    # the full recipe carries only the adopted levers (lever 2b and 2a were not adopted) and fits the 2-hour budget
    assert [s.tone_aug for s in full.data.sources] == [0.0] * 6
    assert full.max_minutes == 75 and full.optim.time_schedule
    for name, path in (("short_lite0_hard.yaml", "data_cache/synth_hard"),
                       ("short_lite0_resid.yaml", "data_cache/synth_resid")):
        lever = load_train_config(CONFIGS / name).model_dump()
        assert lever["data"]["sources"][0]["path"] == path
        lever["data"]["sources"][0]["path"] = "data_cache/synth_std"
        assert {k: v for k, v in b.items() if k != "name"} == {k: v for k, v in lever.items() if k != "name"}


def test_recipe_dry_run_prints_its_six_steps(capsys):
    mod = load_script("scripts/train_issue20.py")
    assert (REPO / mod.CONFIG).is_file()
    assert mod.main(["--dry-run", "--out", "runs/x"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("+ ")]
    assert len(lines) == 6
    assert " synth dataset " in lines[0] and f"--out {mod.SYNTH['out']}" in lines[0]
    assert f"train --config {mod.CONFIG} --out runs/x " in lines[1]
    assert f"--out {mod.SYNTH_HANDS['out']}" in lines[2] and "--sets hgr_hands_subset --split train" in lines[2]
    assert "scripts/cohort_training_set.py" in lines[3] and f"--out {mod.COHORT_TRAIN['out']} --seed 50" in lines[3]
    assert "train --config runs/x-hands.yaml --out runs/x-hands " in lines[4]
    assert lines[5].endswith("model export runs/x/model")


def test_recipe_stage2_config_starts_from_stage1(tmp_path):
    mod = load_script("scripts/train_issue20.py")
    out = tmp_path / "run"  # absolute: REPO / out is out
    cfg = load_train_config(mod.stage2_config(str(out)))
    assert cfg.init_weights == f"{out}/last/model.safetensors" and cfg.threads == 2
    by_name = {s.name: s for s in cfg.data.sources}
    assert by_name["synth_hands"].path == mod.SYNTH_HANDS["out"] and by_name["synth_hands"].weight == 0.15
    assert by_name["synth_cohort"].path == mod.COHORT_TRAIN["out"] and by_name["synth_cohort"].weight == 0.15
    assert cfg.optim.epochs * cfg.optim.steps_per_epoch == 600
    # each arm differs from its base by one source (threads aside, which is not part of a run's identity)
    for base, arm, extra in (("ft_control", "ft_hands", "synth_hands"), ("ft_hands", "ft_hands_cohort", "synth_cohort")):
        b = load_train_config(CONFIGS / f"{base}.yaml").model_dump(exclude={"name", "threads"})
        a = load_train_config(CONFIGS / f"{arm}.yaml").model_dump(exclude={"name", "threads"})
        a["data"]["sources"] = [s for s in a["data"]["sources"] if s["name"] != extra]
        assert a == b, arm


def test_harness_parts_on_a_tiny_model(tmp_path, proc_dataset):
    h = load_script("scripts/dev_harness.py")
    save_tiny_unet(tmp_path / "m")
    model = h.decoded_copy(tmp_path / "m", tmp_path / "out" / "model", "0.6:0.4")
    cfg = json.loads((model / "config.json").read_text())
    assert (cfg["depigmented_threshold"], cfg["depigmented_threshold_low"], cfg["flip_average"]) == (0.6, 0.4, True)
    assert (model / "model.safetensors").resolve() == (tmp_path / "m" / "model.safetensors").resolve()
    assert h.decoded_copy(tmp_path / "m", tmp_path / "unused", "") == tmp_path / "m"
    from vitiseg.segmentation.unet import UNetSegmenter

    m = h.synth_metrics(UNetSegmenter.load(model, device="cpu"), proc_dataset)
    assert m["n"] == 8 and 0.0 <= m["depig_dice"] <= 1.0 and 0.0 <= m["skin_dice"] <= 1.0
    res = {"synth_val": m, "skin_val": {"ita_skin_dice": {"T1": 0.5, "T2": 0.6, "T3": 0.7},
                                        "worst_tertile_skin_dice": 0.5, "false_alarms": 1}}
    head = h.headline(res)
    assert head["D:val"] == round(m["depig_dice"], 4) and head["S:worst"] == 0.5 and head["FA:skin"] == 1


def test_ita_histogram_and_timing_on_tiny_inputs(tmp_path, proc_dataset, capsys):
    hist = load_script("scripts/ita_histogram.py")
    counts = hist.source_histogram(tiny_train_config(proc_dataset), "proc", 6, min_px=20)
    assert sum(counts.values()) == 6 and set(counts) == {"very_light", "light", "intermediate", "tan", "brown",
                                                         "dark", "skipped"}
    timing = load_script("scripts/segmenter_time.py")
    save_tiny_unet(tmp_path / "a")
    save_tiny_unet(tmp_path / "b")
    out = tmp_path / "t.json"
    assert timing.main(["--model", str(tmp_path / "a"), "--model", str(tmp_path / "b"), "--photos",
                        str(proc_dataset / "images"), "--n", "2", "--threads", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res[str(tmp_path / "a")]["ratio_to_first"] == 1.0 and res[str(tmp_path / "b")]["n"] == 2
    assert res[str(tmp_path / "a")]["backend"] == "torch"
    pytest.importorskip("onnx")
    from vitiseg.segmentation.export import export_onnx

    export_onnx(tmp_path / "a")  # the default backend of vitiseg run times the model.onnx
    assert timing.main(["--model", str(tmp_path / "a"), "--photos", str(proc_dataset / "images"), "--n", "2",
                        "--threads", "1", "--backend", "onnx", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res[str(tmp_path / "a")]["backend"] == "onnx" and res[str(tmp_path / "a")]["n"] == 2


def test_final_table_reads_the_final_measurements(tmp_path, monkeypatch, capsys):
    t = load_script("research/2026-12-01-segmenter/table.py")
    monkeypatch.setattr(t, "REPO", tmp_path)
    d = {"synth_test": {"depig_dice": 0.8, "ita_gap_depig_dice": 0.04},
         "skin_test": {"n": 177, "false_alarms": 3, "ita_skin_dice": {"T1": 0.9, "T2": 0.95, "T3": 0.96}},
         "cohorts": {"cohort_t300": {"f_vasi_mae": 0.1, "t_vasi_mae": 0.5, "f_vasi90_run": 20.0, "f_vasi90_true": 10.0,
                                     "t_vasi50_run": 40.0, "t_vasi50_true": 42.0, "false_alarms": 2}}}
    (tmp_path / "runs" / "final" / "m").mkdir(parents=True)
    (tmp_path / "runs" / "final" / "m" / "harness.json").write_text(json.dumps(d))
    rows = {r.split(" | ")[0].strip("| "): r.split(" | ")[2].strip(" |") for r in t.final_rows(["m"])[2:]}
    assert rows["synthetic test, depigmented Dice (pooled)"] == "0.800"
    assert rows["skin Dice per ITA tertile, skin test photos (T1 darkest)"] == "0.900 / 0.950 / 0.960"
    assert rows["skin test photos with > 5 % called depigmented"] == "3 of 177"
    assert rows["F-VASI90 rate, run - truth (pp)"] == "+10" and rows["T-VASI50 rate, run - truth (pp)"] == "-2"
    assert rows["real dev val polygons, depigmented Dice (pooled)"] == "-"


def test_lever_6_to_8_configs_differ_from_the_shipped_stage_2_only_by_their_lever():
    base = load_train_config(CONFIGS / "ft_hands_cohort.yaml").model_dump()
    changed = {"ft_whole.yaml": {("data", "crop_size"): 384},
               "ft_whole_skin.yaml": {("data", "crop_size"): 384},
               "ft_small.yaml": {("loss", "small_lesion_weight"): 4.0}}
    for name, diff in changed.items():
        cfg = load_train_config(CONFIGS / name).model_dump()
        for (sec, key), value in diff.items():
            assert cfg[sec][key] == value and base[sec][key] != value, name
            cfg[sec][key] = base[sec][key]
        if name == "ft_whole_skin.yaml":  # the four lesion-free skin sources at twice their weight
            assert [s["weight"] for s in cfg["data"]["sources"][4:]] == [0.15] * 4
            for s, b in zip(cfg["data"]["sources"], base["data"]["sources"]):
                s["weight"] = b["weight"]
        assert {k: v for k, v in cfg.items() if k != "name"} == {k: v for k, v in base.items() if k != "name"}, name


def test_paired_difference_and_bootstrap_interval(tmp_path):
    p = load_script("research/2026-12-01-segmenter/paired.py")

    def write(run: str, t_runs: list[float]) -> Path:
        visits = [{"patient_id": f"P{i}", "visit_id": v, "f_vasi_true": 1.0, "f_vasi_run": 1.0,
                   "t_vasi_true": 2.0, "t_vasi_run": t}
                  for i, pair in enumerate(zip(t_runs[::2], t_runs[1::2])) for v, t in zip(("baseline", "week12"), pair)]
        d = tmp_path / run / "cohort_t1"
        d.mkdir(parents=True)
        (d / "cohort_accuracy.json").write_text(json.dumps({"per_visit": visits}))
        return tmp_path / run

    base = write("a", [2.5, 2.5, 1.0, 3.0])  # |errors| 0.5, 0.5, 1.0, 1.0
    cand = write("b", [2.1, 2.1, 2.0, 2.0])  # 0.1, 0.1, 0.0, 0.0
    r = p.paired(base, cand, n_boot=2000)
    assert r["n_visits"] == 4 and r["n_patients"] == 2
    assert r["t_vasi"]["mae_base"] == pytest.approx(0.75) and r["t_vasi"]["mae_cand"] == pytest.approx(0.05)
    assert r["t_vasi"]["diff"] == pytest.approx(-0.7)
    # the two patients' mean differences are -0.4 and -1.0, the ends of every resample's range
    lo, hi = r["t_vasi"]["ci95"]
    assert lo < hi and lo == pytest.approx(-1.0) and hi == pytest.approx(-0.4)
    assert r["f_vasi"]["diff"] == 0.0 and r["f_vasi"]["ci95"] == [0.0, 0.0]
