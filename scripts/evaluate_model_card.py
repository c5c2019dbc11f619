#!/usr/bin/env python
"""Measure the numbers of a model card: the U-Net and the ``classical`` baseline on the same held-out data.

Runs :func:`vitiseg.evaluation.runner.run_evaluation` (the code path of ``vitiseg evaluate``) for every model on

1. the synthetic **test** split (``SYNTH/index.csv`` split == test; backgrounds never used for training),
2. the real lesion-polygon **val** split of the training run (``RUN/splits/real_polygons_val.txt``: source photos
   held out from training; note that the run also used them to pick its best epoch),
3. the held-out **test** photos of the four skin sets (``RUN/splits/skin_<set>_test.txt``; lesion-free photos),

writes ``OUT/<tag>/<dataset>/{summary.json, per_image.csv}``, ``OUT/metrics.json`` and ``OUT/metrics.md`` (the
markdown table for the card) and prints the table. With ``--card README.md`` the table replaces the block between
``<!-- metrics:start -->`` and ``<!-- metrics:end -->`` in that file, and with ``--train-run RUN`` (repeatable) a
table of the training runs (epochs, steps, wall clock) updates the ``training`` block (rows of other runs are kept).

    .venv/bin/python scripts/evaluate_model_card.py --model vitiseg/models/vitiseg-unet-mnv2 --model classical \\
        --run runs/train/vitiseg-unet-mnv2-stage2 --synth data_cache/synth_v3 --out runs/eval/card
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]

from vitiseg.config import SegmentationConfig
from vitiseg.evaluation.runner import read_ids, run_evaluation, summarise
from vitiseg.evaluation.stratify import group_metrics, read_groups
from vitiseg.segmentation.load import load_segmenter

SKIN_SETS = {
    "abdominal": "abdominal_skin",
    "fasseg": "fasseg_face_skin",
    "hgr": "hgr_hands_subset",
    "pratheepan": "pratheepan_skin",
}
TARGETS = {"synth": 0.95, "real": 0.85, "skin": 0.93}


def _tag(model: str) -> str:
    return model if model in ("classical", "default") else Path(model).name


def _parse(v: str) -> Any:
    if v == "":
        return float("nan")
    if v in ("True", "False"):
        return v == "True"
    try:
        return int(v)
    except ValueError:
        try:
            return float(v)
        except ValueError:
            return v


REUSE_KEYS = ("sha256", "backend", "input_long_side", "depigmented_threshold", "depigmented_threshold_low", "flip_average", "flip_average_up_down", "refinement")


def same_model(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Two model identities give the same predictions: same weights hash and inference settings (working size,
    threshold, colour refinement; a key missing from an older summary counts as None)."""
    return all(a.get(k) == b.get(k) for k in REUSE_KEYS)


def _reuse(d: Path, seg: Any, ids: list[str], max_images: int | None) -> dict[str, Any] | None:
    """A previous result in ``d`` for the same model (:func:`same_model`) and the same image ids, or None."""
    sj, pc = d / "summary.json", d / "per_image.csv"
    if not (sj.is_file() and pc.is_file()):
        return None
    s = json.loads(sj.read_text())
    with pc.open(newline="") as f:
        rows = [{k: _parse(v) for k, v in r.items()} for r in csv.DictReader(f)]
    want = set(ids[:max_images] if max_images else ids)
    if not same_model(s["model"], seg.identity) or {str(r["id"]) for r in rows} - want:
        return None
    if len(rows) != len(want) and not max_images:
        return None
    if s.get("mask_kind") != "skin" and "errors" not in s.get("metrics", {}).get("depigmented", {}):
        return None  # written before the error breakdown existed
    return {**s, "rows": rows}


def evaluate_model(model: str, args: argparse.Namespace) -> dict[str, Any]:
    seg = load_segmenter(SegmentationConfig(model=model, device=args.device))
    out = Path(args.out) / _tag(model)
    run = Path(args.run)
    res: dict[str, Any] = {"identity": seg.identity}
    t0 = time.time()

    def ev(images: Path, masks: Path, kind: str, name: str, ids: list[str], max_images: int | None = None,
           groups: dict | None = None):
        if args.reuse:
            r = _reuse(out / name, seg, ids, max_images)
            if r is not None:
                print(f"  reusing {out / name}", flush=True)
                if groups:  # strata are recomputed from the cached per-image rows
                    r["metrics"]["groups"] = {c: group_metrics(r["rows"], lab, kind) for c, lab in groups.items()}
                return r
        return run_evaluation(model, images, masks, kind, out / name, ids=ids, max_images=max_images,
                              segmenter=seg, progress=not args.quiet, groups=groups)

    synth = Path(args.synth)
    cols = [c for c in ("set", "kind") if c in (synth / "index.csv").read_text().splitlines()[0].split(",")]
    s = ev(synth / "images", synth / "masks", "classes", "synth_test", read_ids(synth / "index.csv", "test"),
           args.max_synth, groups=read_groups(synth / "index.csv", cols) if cols else None)
    res["synth_test"] = s["metrics"]
    real = Path(args.real)
    s = ev(real / "images", real / "masks", "lesion", "real_val", read_ids(run / "splits" / "real_polygons_val.txt"))
    res["real_val"] = s["metrics"]
    skin_rows = []
    res["skin_sets"] = {}
    for short, d in SKIN_SETS.items():
        root = Path(args.skin_root) / d
        s = ev(root / "images", root / "masks", "skin", f"skin_{short}",
               read_ids(run / "splits" / f"skin_{short}_test.txt"))
        res["skin_sets"][short] = s["metrics"]
        skin_rows += s["rows"]
    res["skin_test_all"] = summarise(skin_rows, "skin")
    res["seconds"] = time.time() - t0
    return res


def _f(x: Any, nd: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{nd}f}"


def _gap(m: dict | None, key: str) -> Any:
    return (m or {}).get(key)


def _pct(x: float | None) -> str:
    if x is None:
        raise TypeError("no value")  # -> "n/a" in the table
    return f"{100 * x:.0f} %"


def table(results: dict[str, dict[str, Any]]) -> str:
    tags = list(results)
    head = "| Metric | " + " | ".join(tags) + " | Target |"
    sep = "|---|" + "---|" * len(tags) + "---|"
    lines = [head, sep]

    def row(name: str, fn, target: str = "") -> None:
        vals = []
        for t in tags:
            try:
                vals.append(fn(results[t]))
            except (KeyError, TypeError):
                vals.append("n/a")
        lines.append(f"| {name} | " + " | ".join(vals) + f" | {target} |")

    r0 = next(iter(results.values()))
    n_syn = r0["synth_test"]["n_images"]
    n_real = r0["real_val"]["n_images"]
    n_skin = r0["skin_test_all"]["n_images"]
    row(f"Depigmented Dice, synthetic test (pooled, n={n_syn})",
        lambda r: _f(r["synth_test"]["depigmented"]["pooled_dice"]), f">= {TARGETS['synth']}")
    row("Depigmented IoU, synthetic test (pooled)", lambda r: _f(r["synth_test"]["depigmented"]["pooled_iou"]))
    row("Depigmented Dice, synthetic test (mean per image)", lambda r: _f(r["synth_test"]["depigmented"]["mean_dice"]))
    for col, title in (("set", "background photo set"), ("kind", "lesion pattern")):
        labs = sorted({lab for r in results.values() for lab in r["synth_test"].get("groups", {}).get(col, {})})
        for lab in labs:
            def by(r, c=col, lb=lab):
                g = r["synth_test"]["groups"][c][lb]
                return f"{_f(g.get('depig_pooled_dice'))} ({_pct(g.get('fn_share'))} of missed px)"
            n = next(r["synth_test"]["groups"][col][lab]["n_images"] for r in results.values()
                     if lab in r["synth_test"].get("groups", {}).get(col, {}))
            row(f"  depigmented Dice, synthetic test, {title} {lab} (n={n})", by)
    row("Skin Dice, synthetic test (pooled)", lambda r: _f(r["synth_test"]["skin"]["pooled_dice"]))
    row("Depigmented-fraction MAE, synthetic test (percentage points)",
        lambda r: _f(100 * r["synth_test"]["fraction"]["mae"], 1))
    row("Fraction bias (pred - true, pp) / slope / Pearson r, synthetic test",
        lambda r: f"{100 * r['synth_test']['fraction']['mean_signed_error']:+.1f} / "
                  f"{_f(r['synth_test']['fraction']['slope'], 2)} / {_f(r['synth_test']['fraction']['pearson_r'], 2)}")
    row("Missed depigmented pixels: share > 2 px inside a true lesion / share called healthy skin, synthetic test",
        lambda r: f"{_pct(r['synth_test']['depigmented']['errors']['fn_core_share'])} / "
                  f"{_pct(r['synth_test']['depigmented']['errors']['fn_as_skin_share'])}")
    row("False-positive pixels > 2 px from any true lesion (share), synthetic test",
        lambda r: _pct(r["synth_test"]["depigmented"]["errors"]["fp_far_share"]))
    row("True lesions (8-connected) with no predicted pixel / predicted ones touching none, synthetic test",
        lambda r: f"{_pct(r['synth_test']['depigmented']['errors']['lesions_missed_share'])} / "
                  f"{_pct(r['synth_test']['depigmented']['errors']['lesions_false_share'])}")
    row(f"Depigmented Dice, real polygon val split (pooled, n={n_real})",
        lambda r: _f(r["real_val"]["depigmented"]["pooled_dice"]), f">= {TARGETS['real']}")
    row("Depigmented IoU, real polygon val split (pooled)", lambda r: _f(r["real_val"]["depigmented"]["pooled_iou"]))
    row("Missed lesion pixels > 2 px inside a polygon (share), real val",
        lambda r: _pct(r["real_val"]["depigmented"]["errors"]["fn_core_share"]))
    row(f"Skin Dice, held-out skin photos (pooled, n={n_skin})",
        lambda r: _f(r["skin_test_all"]["skin"]["pooled_dice"]), f">= {TARGETS['skin']}")
    for short in SKIN_SETS:
        row(f"  skin Dice, {short} (n={r0['skin_sets'][short]['n_images']})",
            lambda r, s=short: _f(r["skin_sets"][s]["skin"]["pooled_dice"]))
    row("Lesion-free skin photos: mean predicted depigmented fraction (%)",
        lambda r: _f(100 * r["skin_test_all"]["fraction"]["mean_signed_error"], 1))
    row("ITA-tertile gap, depigmented Dice, synthetic test (max - min)",
        lambda r: _f(_gap(r["synth_test"]["ita"], "gap_depig_pooled_dice")))
    row("ITA-tertile gap, depigmented Dice, real val",
        lambda r: _f(_gap(r["real_val"]["ita"], "gap_depig_pooled_dice")))
    row("ITA-tertile gap, skin Dice, held-out skin photos",
        lambda r: _f(_gap(r["skin_test_all"]["ita"], "gap_skin_pooled_dice")))
    lines.append("")
    lines.append("Per ITA tertile (T1 = darkest), pooled depigmented Dice on the synthetic test split:")
    lines.append("")
    for t in tags:
        it = results[t]["synth_test"].get("ita") or {}
        parts = [f"{k} (n={v['n']}, ITA {v['ita_range'][0]:.0f}..{v['ita_range'][1]:.0f} deg): "
                 f"{_f(v.get('depig_pooled_dice'))}" for k, v in (it.get("tertiles") or {}).items()]
        lines.append(f"- {t}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


def training_table(runs: list[str]) -> str:
    """Markdown table of training runs: epochs, steps, wall-clock time, best epoch and its selection score."""
    import torch

    lines = ["| Run | Epochs | Steps (batch) | Wall clock (min) | Best epoch (val score) | Device |", "|---|---|---|---|---|---|"]
    for r in runs:
        d = Path(r)
        hist = [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines() if x.strip()]
        secs = None
        if (d / "last.pt").is_file():
            secs = torch.load(d / "last.pt", map_location="cpu", weights_only=False).get("train_seconds")
        if secs is None and (d / "summary.json").is_file():
            secs = json.loads((d / "summary.json").read_text()).get("train_seconds_total")
        if secs is None:
            secs = sum(h["train_seconds"] + h["val_seconds"] for h in hist)
        best = max(hist, key=lambda h: h["val"]["score"]) if hist else None
        cfg = (d / "config.yaml").read_text() if (d / "config.yaml").is_file() else ""
        bs = re.search(r"batch_size: (\d+)", cfg)
        dev = "cpu"
        bj = d / "best" / "config.json"
        if bj.is_file():
            dev = json.loads(bj.read_text()).get("training", {}).get("device", dev)
        lines.append(
            f"| {d.name} | {len(hist)} | {hist[-1]['step'] if hist else 0} ({bs.group(1) if bs else '?'}) | "
            f"{secs / 60:.1f} | {best['epoch'] if best else '-'} ({best['val']['score']:.3f}) | {dev} |"
        )
    return "\n".join(lines) + "\n"


def merge_training_rows(old_block: str, new_table: str) -> str:
    """The training table ``new_table`` with the rows of ``old_block`` whose run is not in it kept, in the old order.

    A run's row is keyed by its first cell (the run folder's name); a run given again replaces its old row in place,
    new runs are appended. So ``--train-run`` with only the newest stage keeps the rows of stages whose run folders
    are no longer on this machine."""
    def rows(t: str) -> list[str]:
        return [x for x in t.splitlines() if x.startswith("| ") and not x.startswith("| Run |")]

    key = lambda r: r.split("|")[1].strip()  # noqa: E731
    head = [x for x in new_table.splitlines() if x.startswith("| Run |") or x.startswith("|---")]
    new = {key(r): r for r in rows(new_table)}
    out = [new.pop(key(r), r) for r in rows(old_block)]
    return "\n".join(head + out + list(new.values())) + "\n"


def _block(text: str, name: str) -> str | None:
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    return m.group(1) if m else None


def _replace_block(text: str, name: str, body: str) -> str | None:
    pat = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pat.search(text):
        return None
    return pat.sub(lambda m: m.group(1) + body + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, help="model folder, 'default' or 'classical'")
    ap.add_argument("--run", required=True, help="training run folder (its splits/ define the held-out sets)")
    ap.add_argument("--synth", required=True, help="synthetic dataset folder (vitiseg synth dataset)")
    ap.add_argument("--real", default=str(REPO.parent / "shared" / "data" / "real_vitiligo_dev"))
    ap.add_argument("--skin-root", default=str(REPO.parent / "shared" / "data" / "skin"))
    ap.add_argument("--out", default="runs/eval/card")
    ap.add_argument("--max-synth", type=int, default=None, help="cap on synthetic test images")
    ap.add_argument("--device", default="cpu", choices=["auto", "cpu", "cuda"])
    ap.add_argument("--card", help="README.md whose metrics block (between markers) is replaced by the table")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--train-run", action="append", default=[],
                    help="training run folder(s) to summarise (epochs, steps, wall clock) in the card")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse OUT/<tag>/<dataset> results of the same model (weights sha256 and inference settings) and image ids")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = {}
    for m in args.model:
        results[_tag(m)] = evaluate_model(m, args)
        print(f"evaluated {m} in {results[_tag(m)]['seconds']:.0f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    md = table(results)
    (out / "metrics.md").write_text(md)
    print(md)
    tt = training_table(args.train_run) if args.train_run else None
    if tt:
        (out / "training.md").write_text(tt)
        print(tt)
    if args.card:
        p = Path(args.card)
        text = _replace_block(p.read_text(encoding="utf-8"), "metrics", md)
        if text is None:
            print(f"no metrics markers in {p}; card not changed", file=sys.stderr)
            return 1
        if tt:
            old = _block(text, "training")
            text = _replace_block(text, "training", merge_training_rows(old or "", tt)) or text
        p.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
