"""Accuracy of follow-up tracking on a synthetic cohort with camera motion: registration, change areas, patterns.

The cohort comes from ``vitiseg synth cohort ... --camera-motion 1 --repigmentation patterns`` (tracking truth in
``VISITS_truth/tracking/``, see :mod:`vitiseg.synth.trial.tracking_truth`). Each follow-up photo is tracked exactly as
``vitiseg run`` tracks it (:func:`vitiseg.tracking.step.track_pair`), with the masks of either

* ``--masks truth``: the true masks (and facial areas) of the truth folder: isolates registration; or
* ``--run OUT``: the masks of a ``vitiseg run`` folder (the segmentation model's), and its facial areas;

and with ``--transform estimated`` (the tracker's alignment) or ``true`` (the recorded homography: isolates the
masks). Measured per pair and summarised per region type (face / body) and region:

* registration error (px, working size): ``corner``: mean distance of the four image corners mapped by the estimate
  and by the true homography; ``skin``: median distance over the baseline's compared skin; median and 90th percentile
  over aligned pairs; how many pairs were ``not_aligned``;
* change areas: the repigmented (and newly depigmented) share of the baseline's depigmented skin and of the compared
  skin, tracked against true (true change map within the same compared domain), in percentage points; Dice of the
  repigmented pixels (pairs with at least ``MIN_DICE_PX`` truly repigmented px);
* patterns: each tracked patch is matched to the true lesion it overlaps most (>= 50 % of the patch); accuracy of
  its pattern against the lesion's true pattern where the lesion was rendered with a pattern and truly repigmented
  by ``MIN_TRUE_SHARE`` to ``MAX_TRUE_SHARE`` (less: nothing to see yet; more: too little left to tell how), with
  the confusion matrix; error of the share repigmented over all matched patches.

    python scripts/tracking_accuracy.py --visits V --truth V_truth --masks truth [--transform true] [--json F]
    python scripts/tracking_accuracy.py --visits V --truth V_truth --run OUT
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from ..config import ConfigError, RunConfig, load_config, load_regions
from ..io.images import read_mask
from ..io.layout import discover
from ..io.tables import write_csv
from ..pipeline.photo import output_stem
from ..synth.trial.repigment import lesion_labels
from ..tracking.changes import NOT_COMPARED, REPIGMENTED, change_areas
from ..tracking.register import Alignment, homography_grid
from ..tracking.step import Baseline, follow_up_pairs, load_baseline, track_pair

MIN_TRUE_SHARE = 0.10
MAX_TRUE_SHARE = 0.90
MIN_MATCH = 0.5
MIN_DICE_PX = 50


def truth_rows(layout: Any, truth: Path) -> list[dict[str, Any]]:
    """Photo rows whose masks are the truth folder's (``masks/``, ``face_area/``)."""
    rows = []
    for p in layout.photos:
        stem = output_stem(p.rel_path)
        area = f"face_area/{stem}.png" if (truth / "face_area" / f"{stem}.png").is_file() else ""
        rows.append({"patient_id": p.patient_id, "visit_id": p.visit_id, "region": p.region, "view": p.view,
                     "path": p.rel_path, "status": "ok" if not p.error else "error", "error": p.error,
                     "mask": f"masks/{stem}.png", "face_area": area, "sha256": ""})
    return rows


def run_rows(run: Path) -> list[dict[str, Any]]:
    return pd.read_csv(run / "photos.csv", dtype=str, keep_default_na=False).to_dict("records")


def true_homography(transforms: pd.DataFrame, fu: dict[str, Any], base_shape: tuple[int, int],
                    fu_shape: tuple[int, int]) -> np.ndarray:
    """The recorded baseline -> follow-up homography, rescaled to the working sizes of both photos."""
    t = transforms.loc[(fu["patient_id"], fu["visit_id"], Path(fu["path"]).name)]
    H = np.array([[float(t[f"h{i}{j}"]) for j in range(3)] for i in range(3)])
    sb = base_shape[1] / float(t["width"])
    sf = fu_shape[1] / float(t["width"])
    return np.diag([sf, sf, 1.0]) @ H @ np.diag([1 / sb, 1 / sb, 1.0])


def registration_error(al: Alignment, H: np.ndarray, b: Baseline, compared: np.ndarray) -> dict[str, float]:
    """Corner and skin errors (px) of an alignment's map against the true homography."""
    h, w = b.view.skin.shape
    true = homography_grid(H, (h, w))
    d = np.linalg.norm(al.grid - true, axis=-1)
    corners = [d[0, 0], d[0, w - 1], d[h - 1, w - 1], d[h - 1, 0]]
    sel = compared if compared.any() else b.view.skin
    return {"corner_px": float(np.mean(corners)), "skin_px": float(np.median(d[sel])),
            "skin_p90_px": float(np.percentile(d[sel], 90))}


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / s if s else float("nan")


def evaluate(visits: Path, truth: Path, run: Path | None, transform: str, cfg: RunConfig, work: Path,
             regions: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-pair and per-patch result tables (module docstring); ``regions``: only these regions."""
    layout = discover(visits, load_regions())
    rows = run_rows(run) if run is not None else truth_rows(layout, truth)
    masks_root = run if run is not None else truth
    transforms = pd.read_csv(truth / "tracking" / "transforms.csv", dtype={"patient_id": str, "visit_id": str})
    transforms = transforms.set_index(["patient_id", "visit_id", "photo"])
    lesions = pd.read_csv(truth / "tracking" / "lesions.csv", dtype={"patient_id": str, "visit_id": str},
                          keep_default_na=False).set_index(["patient_id", "photo", "visit_id", "lesion_id"])
    paths = {p.rel_path: p.path for p in layout.photos}
    baselines: dict[str, Baseline] = {}
    pair_rows, patch_rows = [], []
    for base, fu, vi in follow_up_pairs(rows, layout):
        if regions and fu["region"] not in regions:
            continue
        head = {"patient_id": fu["patient_id"], "visit_id": fu["visit_id"], "region": fu["region"],
                "kind": "face" if fu["region"] == "face" else "body", "path": fu["path"]}
        if base is None or base["status"] != "ok" or fu["status"] != "ok":
            pair_rows.append({**head, "status": "photo failed"})
            continue
        if base["path"] not in baselines:
            baselines[base["path"]] = load_baseline(base, paths[base["path"]], masks_root, cfg)
        b = baselines[base["path"]]

        def known(view: Any, b: Baseline = b, fu: dict = fu) -> Alignment:
            H = true_homography(transforms, fu, b.view.skin.shape, view.skin.shape)
            return Alignment("aligned", "", "true transform", homography_grid(H, b.view.skin.shape), H)

        res = track_pair(b, fu, paths[fu["path"]], masks_root, work, cfg, known if transform == "true" else None)
        row = {**head, "status": res.row["status"], "reason": res.row["reason"], "method": res.row["method"],
               "skin_overlap": res.row.get("skin_overlap"), "correlation": res.row.get("correlation"),
               "inliers": res.row.get("inliers")}
        if res.codes is None:
            pair_rows.append(row)
            continue
        rel = Path(fu["patient_id"]) / fu["visit_id"] / f"{Path(fu['path']).stem}.png"
        tcodes = read_mask(truth / "tracking" / "changes" / rel)
        if tcodes.shape != res.codes.shape:
            tcodes = cv2.resize(tcodes, res.codes.shape[::-1], interpolation=cv2.INTER_NEAREST)
        tcodes = np.where(b.domain, tcodes, NOT_COMPARED).astype(np.uint8)
        H = true_homography(transforms, fu, b.view.skin.shape, read_mask(masks_root / fu["mask"]).shape)
        row.update(registration_error(res.alignment, H, b, res.codes != NOT_COMPARED))
        both = (res.codes != NOT_COMPARED) & (tcodes != NOT_COMPARED)
        est, tru = change_areas(np.where(both, res.codes, 0)), change_areas(np.where(both, tcodes, 0))
        for k in ("repigmented_pct_of_baseline", "new_pct_of_baseline", "repigmented_pct_of_skin",
                  "new_pct_of_skin"):
            row[f"{k}_est"], row[f"{k}_true"] = est[k], tru[k]
        true_rep = (tcodes == REPIGMENTED) & both
        row["repigmented_dice"] = _dice((res.codes == REPIGMENTED) & both, true_rep) \
            if true_rep.sum() >= MIN_DICE_PX else float("nan")
        pair_rows.append(row)
        patch_rows += _patch_truth(b, res.patches, truth, base, fu, lesions, head)
    return pd.DataFrame(pair_rows), pd.DataFrame(patch_rows)


def _patch_truth(b: Baseline, results: list[dict[str, Any]], truth: Path, base: dict[str, Any], fu: dict[str, Any],
                 lesions: pd.DataFrame, head: dict[str, Any]) -> list[dict[str, Any]]:
    """Each tracked patch with the true lesion it overlaps most, that lesion's pattern and share repigmented."""
    stem = output_stem(base["path"])
    tlab, _ = lesion_labels(read_mask(truth / "masks" / f"{stem}.png"))
    if tlab.shape != b.labels.shape:
        tlab = cv2.resize(tlab, b.labels.shape[::-1], interpolation=cv2.INTER_NEAREST)
    out = []
    for p, r in zip(b.patches, results):
        ids, n = np.unique(tlab[b.labels == p.patch_id], return_counts=True)
        n = np.where(ids == 0, 0, n)
        k = int(ids[np.argmax(n)])
        match = float(n.max()) / p.area_px
        key = (fu["patient_id"], Path(fu["path"]).name, fu["visit_id"], k)
        t = lesions.loc[key] if k and key in lesions.index else None
        out.append({**head, "patch_id": p.patch_id, "baseline_px": p.area_px, "lesion_id": k, "match": match,
                    "pattern_est": r.get("pattern", ""), "share_est": r.get("repigmented_share", float("nan")),
                    "border_auc": r.get("border_auc", float("nan")),
                    "pattern_true": t["pattern"] if t is not None and t["rendered"] == "patterns" else "",
                    "share_true": float(t["repigmented_share"]) if t is not None and t["repigmented_share"] != ""
                    else float("nan")})
    return out


def _q(s: pd.Series, q: float) -> float:
    s = s.dropna()
    return float(np.percentile(s, q)) if len(s) else float("nan")


def summarise(pairs: pd.DataFrame, patches: pd.DataFrame) -> dict[str, Any]:
    """Figures per region type and region (module docstring)."""
    out: dict[str, Any] = {}
    groups = [("all", pairs)] + [(k, g) for k, g in pairs.groupby("kind")] + \
        [(r, g) for r, g in pairs.groupby("region")]
    for name, g in groups:
        ok = g[g["status"] == "aligned"]
        d: dict[str, Any] = {"pairs": int(len(g)), "aligned": int(len(ok)),
                             "not_aligned": int((g["status"] == "not_aligned").sum())}
        if len(ok) and "corner_px" in ok:
            for col in ("corner_px", "skin_px"):
                d[f"{col}_median"], d[f"{col}_p90"] = _q(ok[col], 50), _q(ok[col], 90)
            for k in ("repigmented_pct_of_baseline", "repigmented_pct_of_skin", "new_pct_of_skin"):
                e = (ok[f"{k}_est"] - ok[f"{k}_true"]).dropna()
                d[f"{k}_mae_pp"], d[f"{k}_bias_pp"] = float(e.abs().mean()), float(e.mean())
            d["repigmented_dice_median"] = _q(ok["repigmented_dice"], 50)
        out[name] = d
    if len(patches):
        sc = patches[(patches["pattern_true"] != "") & (patches["share_true"] >= MIN_TRUE_SHARE)
                     & (patches["share_true"] <= MAX_TRUE_SHARE) & (patches["match"] >= MIN_MATCH)]
        conf = pd.crosstab(sc["pattern_true"], sc["pattern_est"]) if len(sc) else pd.DataFrame()
        m = patches[patches["match"] >= MIN_MATCH]
        share_err = (m["share_est"] - m["share_true"]).abs().dropna()
        out["patterns"] = {"scored": int(len(sc)), "accuracy": float((sc["pattern_true"] == sc["pattern_est"]).mean())
                           if len(sc) else float("nan"),
                           "confusion": {t: {e: int(v) for e, v in r.items()} for t, r in conf.iterrows()},
                           "share_mae_pp": 100 * float(share_err.mean()) if len(share_err) else float("nan"),
                           "patches": int(len(patches)), "matched": int(len(m))}
    return out


def print_summary(s: dict[str, Any], title: str) -> None:
    print(f"\n## {title}\n")
    print("| group | pairs | not aligned | corner px median / p90 | skin px median / p90 | repigmented % of "
          "baseline MAE / bias (pp) | repigmented % of skin MAE (pp) | new % of skin MAE (pp) | Dice repigmented |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, d in s.items():
        if name == "patterns":
            continue

        def f(k: str, nd: int = 1) -> str:
            v = d.get(k, float("nan"))
            return "-" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"

        print(f"| {name} | {d['pairs']} | {d['not_aligned']} | {f('corner_px_median')} / {f('corner_px_p90')} | "
              f"{f('skin_px_median')} / {f('skin_px_p90')} | {f('repigmented_pct_of_baseline_mae_pp')} / "
              f"{f('repigmented_pct_of_baseline_bias_pp')} | {f('repigmented_pct_of_skin_mae_pp', 2)} | "
              f"{f('new_pct_of_skin_mae_pp', 2)} | {f('repigmented_dice_median', 3)} |")
    p = s.get("patterns")
    if p:
        print(f"\nPatterns: {p['scored']} patches scored (true pattern, {100 * MIN_TRUE_SHARE:.0f}-"
              f"{100 * MAX_TRUE_SHARE:.0f} % repigmented, matched >= {100 * MIN_MATCH:.0f} %): accuracy "
              f"{100 * p['accuracy']:.1f} %; share repigmented MAE "
              f"{p['share_mae_pp']:.1f} pp over {p['matched']} matched patches of {p['patches']}")
        for t, r in p["confusion"].items():
            print(f"  true {t:15s} -> " + ", ".join(f"{e}: {v}" for e, v in r.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--visits", type=Path, required=True, help="the synthetic visits folder")
    ap.add_argument("--truth", type=Path, required=True, help="its truth folder (with tracking/)")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--masks", choices=["truth"], help="track with the true masks")
    src.add_argument("--run", type=Path, help="track with the masks of this vitiseg run folder")
    ap.add_argument("--transform", choices=["estimated", "true"], default="estimated")
    ap.add_argument("--config", type=Path, help="run config whose tracking section to use (default: the defaults)")
    ap.add_argument("--regions", help="comma-separated regions to measure (default: all)")
    ap.add_argument("--out", type=Path, help="write pairs.csv, patches.csv and summary.json here")
    args = ap.parse_args(argv)
    if not (args.truth / "tracking" / "transforms.csv").is_file():
        print(f"error: {args.truth} has no tracking truth (make the cohort with --camera-motion / --repigmentation)",
              file=sys.stderr)
        return 2
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = args.out or Path(tmp)
        pairs, patches = evaluate(args.visits, args.truth, args.run, args.transform, cfg, work,
                                  args.regions.split(",") if args.regions else None)
    s = summarise(pairs, patches)
    masks = "true masks" if args.run is None else f"masks of {args.run}"
    print_summary(s, f"{masks}, {args.transform} transform")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_csv(pairs, args.out / "pairs.csv")
        write_csv(patches, args.out / "patches.csv")
        (args.out / "summary.json").write_text(json.dumps(s, indent=2, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
