"""Metrics per stratum: skin-tone tertiles (ITA) and any labelled groups of images (photo set, lesion pattern).

An average over many photos hides who it fails: these break it down so that a gap between skin tones or a weak set of
photos shows.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from .metrics import MaskKind, pooled


def ita_tertiles(rows: list[dict], kind: MaskKind = "classes") -> dict[str, Any] | None:
    """Metrics per ITA tertile (T1 darkest); ``None`` with fewer than 3 images with a finite ITA.

    With ``kind == "skin"`` (lesion-free photos) depigmented Dice is not reported (it is 0 or 1 by convention).
    """
    rs = [r for r in rows if np.isfinite(r.get("ita", float("nan")))]
    if len(rs) < 3:
        return None
    ita = np.array([r["ita"] for r in rs])
    c1, c2 = (float(x) for x in np.quantile(ita, [1 / 3, 2 / 3]))
    groups = {"T1": [], "T2": [], "T3": []}
    for r in rs:
        groups["T1" if r["ita"] <= c1 else "T2" if r["ita"] <= c2 else "T3"].append(r)
    out: dict[str, Any] = {"cutoffs_deg": [c1, c2], "tertiles": {}}
    for name, g in groups.items():
        t: dict[str, Any] = {
            "n": len(g),
            "ita_range": [float(min(r["ita"] for r in g)), float(max(r["ita"] for r in g))] if g else None,
        }
        for prefix in ("skin",) if kind == "skin" else ("depig", "skin"):
            p = pooled(g, prefix) if g else None
            if p:
                t[f"{prefix}_pooled_dice"] = p["pooled_dice"]
                t[f"{prefix}_mean_dice"] = p["mean_dice"]
        fe = [r["fraction_abs_err"] for r in g if np.isfinite(r.get("fraction_abs_err", float("nan")))]
        if fe:
            t["fraction_mae"] = float(np.mean(fe))
        out["tertiles"][name] = t
    for key in ("depig_pooled_dice", "skin_pooled_dice", "fraction_mae"):
        vals = [t[key] for t in out["tertiles"].values() if key in t]
        if len(vals) == 3:
            out[f"gap_{key}"] = float(max(vals) - min(vals))
    return out


NO_GROUP = "(none)"


def read_groups(path: str | Path, columns: Iterable[str]) -> dict[str, dict[str, str]]:
    """Labels of each image id from a CSV with an ``id`` column: ``{column: {id: label}}``.

    Raises ``ValueError`` naming the available columns when the file has no ``id`` column or lacks a requested one.
    """
    p = Path(path)
    with p.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        have = list(reader.fieldnames or [])
        cols = [c for c in columns]
        if "id" not in have:
            raise ValueError(f"{p}: no 'id' column (columns: {have})")
        missing = [c for c in cols if c not in have]
        if missing:
            raise ValueError(f"{p}: no column {missing} to group by (columns: {have})")
        out: dict[str, dict[str, str]] = {c: {} for c in cols}
        for r in reader:
            for c in cols:
                out[c][str(r["id"])] = str(r[c])
    return out


def group_metrics(rows: list[dict], labels: dict[str, str], kind: MaskKind) -> dict[str, dict[str, Any]]:
    """Pooled metrics of ``rows`` per label (``labels``: image id -> label; unlabelled ids go to ``"(none)"``).

    Per label: ``n_images``; for ``classes`` / ``lesion`` masks the pooled and mean depigmented Dice and the label's
    shares of all FN and of all FP depigmented pixels (``None`` when there are none); skin pooled Dice when skin
    metrics exist; fraction MAE and mean signed error (pred - true) when fractions exist. Sorted by label.
    """
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(labels.get(str(r["id"]), NO_GROUP), []).append(r)
    fn_all = sum(r.get("depig_fn", 0) for r in rows)
    fp_all = sum(r.get("depig_fp", 0) for r in rows)
    out: dict[str, dict[str, Any]] = {}
    for lab in sorted(by):
        g = by[lab]
        m: dict[str, Any] = {"n_images": len(g)}
        dep = pooled(g, "depig")
        if dep and kind != "skin":
            m["depig_pooled_dice"] = dep["pooled_dice"]
            m["depig_mean_dice"] = dep["mean_dice"]
            m["fn_share"] = sum(r["depig_fn"] for r in g) / fn_all if fn_all else None
            m["fp_share"] = sum(r["depig_fp"] for r in g) / fp_all if fp_all else None
        sk = pooled(g, "skin")
        if sk:
            m["skin_pooled_dice"] = sk["pooled_dice"]
        errs = [r["fraction_pred"] - r["fraction_true"] for r in g
                if np.isfinite(r.get("fraction_abs_err", float("nan")))]
        if errs:
            m["fraction_mae"] = float(np.mean(np.abs(errs)))
            m["fraction_bias"] = float(np.mean(errs))
        out[lab] = m
    return out
