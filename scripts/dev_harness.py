#!/usr/bin/env python
"""Development measurements of one model folder (research/2026-12-01-segmenter/RULE.md), written to OUT/harness.json.

- ``--synth NAME=DIR`` (repeatable): pooled depigmented Dice, skin Dice, fraction MAE and the ITA-tertile depigmented
  Dice gap on every image of a fixed synthetic dev folder (``vitiseg synth dataset --split val``).
- the four skin sets' **val** photos (``--skin-root``; split by :func:`vitiseg.training.data.skin_splits`), pooled:
  skin Dice per ITA tertile (T1 darkest; cut-offs from the ground-truth skin, so identical for every model) and false
  alarms (photos with > 5 % of their skin called depigmented; any depigmented pixel).
- the real dev polygons' **val** split (``--real``; val_fraction 0.3, split_seed 0 as in the training configs): pooled
  depigmented Dice (reported, not selected on).
- ``--cohort VISITS`` (repeatable, truth in ``VISITS_truth``): ``vitiseg run --backend torch`` without overlays or
  report into ``OUT/<cohort name>`` (resumable), then :func:`vitiseg.evaluation.cohort_accuracy.compare`; F-VASI /
  T-VASI per-visit MAE, F-VASI90 and T-VASI50 run - truth (pp), false alarms and under-calls, per cohort and their mean.

Every measurement runs the model on PyTorch (``UNetSegmenter``; a training run's folder has no ONNX export), so all
candidates and the shipped model are measured by the same backend. ``--decode 0.6:0.4`` (default) measures the model
with the shipped decode (flip average + hysteresis): a copy of the model folder with those ``config.json`` settings
(same weights, linked) is written to ``OUT/model`` and measured. Results accumulate in ``OUT/harness.json`` (a part
already there is not measured again unless the model's weights or the decode changed).

    python scripts/dev_harness.py --model runs/exp20/short_lite0/last --out runs/harness/short_lite0 \\
        --synth val=data_cache/dev_synth_val --synth hard=data_cache/dev_synth_hard \\
        --cohort data_cache/cohort_s1 --cohort data_cache/cohort_s2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from vitiseg.evaluation.cohort_accuracy import compare
from vitiseg.evaluation.runner import EvalItem, evaluate_items, read_ids, summarise
from vitiseg.evaluation.stratify import ita_tertiles
from vitiseg.io.files import atomic_write_text
from vitiseg.segmentation.artifact import load_model_config, write_model_config
from vitiseg.segmentation.unet import UNetSegmenter
from vitiseg.training import data as ds

REPO = Path(__file__).resolve().parents[1]

SKIN_SETS = ("abdominal_skin", "fasseg_face_skin", "hgr_hands_subset", "pratheepan_skin")
FALSE_ALARM_CUT = 0.05


def decoded_copy(model: Path, out: Path, decode: str | None) -> Path:
    """``model`` itself (``decode`` None) or a copy in ``out`` with flip average and hysteresis ``HIGH:LOW``."""
    if not decode:
        return model
    hi, lo = (float(x) for x in decode.split(":"))
    cfg = load_model_config(model)
    new = cfg.model_copy(update={"depigmented_threshold": hi, "depigmented_threshold_low": lo, "flip_average": True})
    out.mkdir(parents=True, exist_ok=True)
    src = (model / "model.safetensors").resolve()
    dst = out / "model.safetensors"
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    dst.symlink_to(src)
    write_model_config(out, new)
    return out


def synth_metrics(seg: UNetSegmenter, folder: Path) -> dict[str, Any]:
    """Every image of a ``classes`` folder: pooled depigmented / skin Dice, fraction MAE, ITA tertiles."""
    ids = read_ids(folder / "index.csv") if (folder / "index.csv").is_file() else None
    items = [EvalItem(p.stem, p, folder / "masks" / f"{p.stem}.png")
             for p in sorted((folder / "images").iterdir()) if ids is None or p.stem in set(ids)]
    rows = evaluate_items(seg, items, "classes", progress=False)
    s = summarise(rows, "classes")
    ita = s.get("ita") or {}
    return {"n": len(rows), "depig_dice": s["depigmented"]["pooled_dice"], "skin_dice": s["skin"]["pooled_dice"],
            "fraction_mae": s["fraction"]["mae"],
            "ita_depig_dice": {k: v.get("depig_pooled_dice") for k, v in ita.get("tertiles", {}).items()},
            "ita_gap_depig_dice": ita.get("gap_depig_pooled_dice"),
            "seconds_per_image": float(np.mean([r["seconds"] for r in rows]))}


def skin_metrics(seg: UNetSegmenter, skin_root: Path, split: str = "val") -> dict[str, Any]:
    """The four skin sets' ``split`` photos pooled: skin Dice per ITA tertile and false alarms."""
    rows: list[dict] = []
    per_set = {}
    for name in SKIN_SETS:
        src = ds.SourceConfig(name=name, kind="skin", path=str(skin_root / name), val_splits=["val"],
                              test_splits=["test"], train_splits=["train"])
        val = ds.list_samples(src)[split]
        items = [EvalItem(s.id, s.image, s.label) for s in val if s.label is not None]
        r = evaluate_items(seg, items, "skin", progress=False)
        for x in r:
            x["set"] = name
        per_set[name] = {"n": len(r), "skin_dice": summarise(r, "skin")["skin"]["pooled_dice"]}
        rows += r
    t = ita_tertiles(rows, "skin") or {}
    tert = {k: v.get("skin_pooled_dice") for k, v in t.get("tertiles", {}).items()}
    fa = [r for r in rows if np.isfinite(r.get("fraction_pred", np.nan)) and r["fraction_pred"] > FALSE_ALARM_CUT]
    return {"n": len(rows), "skin_dice": summarise(rows, "skin")["skin"]["pooled_dice"], "per_set": per_set,
            "ita_cutoffs_deg": t.get("cutoffs_deg"), "ita_skin_dice": tert,
            "worst_tertile_skin_dice": min(tert.values()) if tert else None,
            "false_alarms": len(fa), "false_alarm_ids": [f"{r['set']}/{r['id']}" for r in fa],
            "any_fp": sum(1 for r in rows if r["depig_fp"] > 0),
            "fp_pixel_share": float(sum(r["depig_fp"] for r in rows) / max(1, sum(r["skin_tp"] + r["skin_fn"]
                                                                                 for r in rows)))}


def real_val_metrics(seg: UNetSegmenter, real: Path) -> dict[str, Any]:
    src = ds.SourceConfig(name="real_polygons", kind="lesion", path=str(real), val_fraction=0.3, split_seed=0)
    val = ds.list_samples(src)["val"]
    items = [EvalItem(s.id, s.image, s.label) for s in val if s.label is not None]
    rows = evaluate_items(seg, items, "lesion", progress=False)
    return {"n": len(rows), "depig_dice": summarise(rows, "lesion")["depigmented"]["pooled_dice"]}


def cohort_metrics(model: Path, cohort: Path, out: Path, threads: int = 2) -> dict[str, Any]:
    """``vitiseg run --backend torch`` (resumable; ``threads`` torch/OpenMP threads) +
    :func:`vitiseg.evaluation.cohort_accuracy.compare` (also written to ``out/cohort_accuracy.json``); headline numbers
    of one cohort."""
    run_cfg = out.parent / "run.yaml"
    # scores only: no overlays, report or follow-up tracking (about 1 s per follow-up photo, not measured here)
    atomic_write_text(run_cfg, "outputs:\n  overlays: false\nreport: false\ntracking:\n  enabled: false\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "vitiseg", "run", str(cohort), "--out", str(out), "--model", str(model),
                    "--config", str(run_cfg), "--backend", "torch", "--no-progress"], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    secs = time.time() - t0
    r = compare(cohort.parent / f"{cohort.name}_truth", out)
    atomic_write_text(out / "cohort_accuracy.json", json.dumps(r, indent=2) + "\n")
    rr = r["responders"]
    pc = r.get("photo_checks") or {}
    return {"f_vasi_mae": r["per_visit_error"]["f_vasi"]["mae"], "f_vasi_bias": r["per_visit_error"]["f_vasi"]["bias"],
            "t_vasi_mae": r["per_visit_error"]["t_vasi"]["mae"], "t_vasi_bias": r["per_visit_error"]["t_vasi"]["bias"],
            "f_vasi90_true": rr["f_vasi90"]["true_pct"], "f_vasi90_run": rr["f_vasi90"]["run_pct"],
            "t_vasi50_true": rr["t_vasi50"]["true_pct"], "t_vasi50_run": rr["t_vasi50"]["run_pct"],
            "false_alarms": pc.get("lesion_free", {}).get("n_over_cut"),
            "under_calls": pc.get("large", {}).get("n_under_called"), "run_seconds": secs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--synth", action="append", default=[], help="NAME=DIR of a fixed synthetic dev folder")
    ap.add_argument("--skin-root", default=str(REPO.parent / "shared" / "data" / "skin"))
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "real_vitiligo_dev"))
    ap.add_argument("--cohort", action="append", default=[], help="cohort visits folder (truth in <it>_truth)")
    ap.add_argument("--decode", default="0.6:0.4", help="HIGH:LOW hysteresis with flip average; '' = as saved")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skin-split", default="val", choices=["val", "test"],
                    help="split of the skin sets (test: the final measurement only, never for choices)")
    ap.add_argument("--parts", default="synth,skin,real,cohort",
                    help="comma-separated subset of synth,skin,real,cohort to measure (e.g. one cohort per process, "
                         "each into its own --out, on a shared CPU)")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(a.threads)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    model = decoded_copy(Path(a.model), out / "model", a.decode)
    seg = UNetSegmenter.load(model, device="cpu")
    res_path = out / "harness.json"
    res: dict[str, Any] = json.loads(res_path.read_text()) if res_path.is_file() else {}
    if res.get("sha256") not in (None, seg.identity["sha256"]) or res.get("decode") != a.decode:
        res = {}
    res.update({"model": str(Path(a.model).resolve()), "sha256": seg.identity["sha256"], "decode": a.decode})
    t0 = time.time()
    parts = set(a.parts.split(","))
    for spec in (a.synth if "synth" in parts else []):
        name, d = spec.split("=", 1)
        if f"synth_{name}" not in res:
            res[f"synth_{name}"] = synth_metrics(seg, Path(d))
            atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    skin_key = f"skin_{a.skin_split}"
    if "skin" in parts and skin_key not in res:
        res[skin_key] = skin_metrics(seg, Path(a.skin_root), a.skin_split)
        atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    if "real" in parts and "real_val" not in res:
        res["real_val"] = real_val_metrics(seg, Path(a.real))
        atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    cohorts = res.setdefault("cohorts", {})
    for c in (a.cohort if "cohort" in parts else []):
        cp = Path(c)
        if cp.name not in cohorts:
            cohorts[cp.name] = cohort_metrics(model.resolve(), cp.resolve(), (out / cp.name).resolve(), a.threads)
            atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    if cohorts:
        keys = ["f_vasi_mae", "t_vasi_mae", "false_alarms", "under_calls"]
        mean = {k: float(np.mean([v[k] for v in cohorts.values()])) for k in keys}
        mean["f_vasi90_abs_err_pp"] = float(np.mean([abs(v["f_vasi90_run"] - v["f_vasi90_true"])
                                                     for v in cohorts.values()]))
        mean["t_vasi50_abs_err_pp"] = float(np.mean([abs(v["t_vasi50_run"] - v["t_vasi50_true"])
                                                     for v in cohorts.values()]))
        mean["false_alarms_sum"] = int(sum(v["false_alarms"] for v in cohorts.values()))
        res["cohort_mean"] = mean
    res["harness_seconds_last_call"] = time.time() - t0
    atomic_write_text(res_path, json.dumps(res, indent=2) + "\n")
    print(json.dumps(headline(res), indent=1))
    return 0


def headline(res: dict[str, Any]) -> dict[str, Any]:
    """The numbers of the comparison table (RULE.md ids)."""
    h: dict[str, Any] = {}
    for k, v in res.items():
        if k.startswith("synth_"):
            h[f"D:{k[6:]}"] = round(v["depig_dice"], 4)
            h[f"D:{k[6:]}:ita_gap"] = None if v["ita_gap_depig_dice"] is None else round(v["ita_gap_depig_dice"], 4)
    sv = res.get("skin_val") or res.get("skin_test") or {}
    if sv:
        h["S:T1/T2/T3"] = [round(x, 4) for x in sv["ita_skin_dice"].values()]
        h["S:worst"] = round(sv["worst_tertile_skin_dice"], 4)
        h["FA:skin"] = sv["false_alarms"]
    if "real_val" in res:
        h["real_val"] = round(res["real_val"]["depig_dice"], 4)
    if "cohort_mean" in res:
        h["C"] = {k: round(v, 4) for k, v in res["cohort_mean"].items()}
    return h


if __name__ == "__main__":
    sys.exit(main())
