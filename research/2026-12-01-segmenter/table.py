#!/usr/bin/env python
"""Comparison table of research/2026-12-01-segmenter from the harness outputs (scripts/dev_harness.py).

A candidate NAME is measured in ``runs/harness/NAME/harness.json`` (else the copy kept in ``harness/NAME.json`` here) and, when its cohorts ran in separate processes,
``runs/harness/NAME_c1`` / ``NAME_c2``; their sections are merged. Prints the markdown table (RULE.md ids).

    python research/2026-12-01-segmenter/table.py shipped short_lite0 short_lite0_skintone
    python research/2026-12-01-segmenter/table.py --final shipped full   # runs/final/NAME or harness/final_NAME.json
    python research/2026-12-01-segmenter/table.py --final final2/shipped final2/ft_hands   # runs/final2/NAME or harness/final2_NAME.json

With ``--final`` and exactly two models, the second is also checked against the first by RULE.md's shipping rule.

A candidate without any harness.json is printed as a row saying so (never as numbers), with a line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def load(name: str) -> dict | None:
    """Merged harness results of ``name``, or None when none of its harness.json files exists."""
    res: dict = {"cohorts": {}}
    found = False
    kept = Path(__file__).resolve().parent / "harness"  # copies kept with the record (runs/ is not in git)
    for suffix in ("", "_c1", "_c2"):
        p = REPO / "runs" / "harness" / f"{name}{suffix}" / "harness.json"
        if not p.is_file():
            p = kept / f"{name}{suffix}.json"
        if p.is_file():
            found = True
            d = json.loads(p.read_text())
            res["cohorts"].update(d.pop("cohorts", {}) or {})
            d.pop("cohort_mean", None)
            res.update({k: v for k, v in d.items() if k not in res or k.startswith(("synth_", "skin_", "real_"))})
    return res if found else None


def row(name: str) -> str:
    d = load(name)
    if d is None:
        print(f"{name}: no runs/harness/{name}*/harness.json", file=sys.stderr)
        return f"| {name} | (not measured: no harness.json) |" + " |" * 11
    f = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    sv = d.get("skin_val", {})
    t = sv.get("ita_skin_dice", {})
    c = d["cohorts"]
    cells = [name, f(d.get("synth_val", {}).get("depig_dice")), f(d.get("synth_hard", {}).get("depig_dice")),
             " / ".join(f(t.get(k)) for k in ("T1", "T2", "T3")) if t else "-",
             str(sv.get("false_alarms", "-"))]
    if len(c) == 2:
        m = lambda k: sum(v[k] for v in c.values()) / 2  # noqa: E731
        cells += [f(m("f_vasi_mae")), f(m("t_vasi_mae")),
                  f"{sum(abs(v['f_vasi90_run'] - v['f_vasi90_true']) for v in c.values()) / 2:.1f}",
                  f"{sum(abs(v['t_vasi50_run'] - v['t_vasi50_true']) for v in c.values()) / 2:.1f}",
                  str(sum(v["false_alarms"] for v in c.values()))]
    else:
        cells += ["-"] * 5
    cells += [f(d.get("real_val", {}).get("depig_dice")), f(d.get("synth_val", {}).get("ita_gap_depig_dice"))]
    return "| " + " | ".join(cells) + " |"


TARGETS = {"synth_test": 0.92, "real_val": 0.85, "skin_tertile": 0.93, "ita_gap": 0.05, "f_mae": 0.08,
           "t_mae": 0.35, "rate_pp": 5.0}


def final_rows(names: list[str]) -> list[str]:
    """The issue's targets, one column per model, from the final measurement (test splits, cohorts seeds >= 100)."""
    kept = Path(__file__).resolve().parent / "harness"
    ds = {}
    for n in names:
        folder, _, name = n.rpartition("/")
        folder = folder or "final"
        p = REPO / "runs" / folder / name / "harness.json"
        p = p if p.is_file() else kept / f"{folder}_{name}.json"
        if not p.is_file():
            print(f"{n}: no final harness.json", file=sys.stderr)
            continue
        ds[n] = json.loads(p.read_text())
    f = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731

    def cohort(d: dict, fn) -> str:
        c = d.get("cohorts", {})
        return " / ".join(fn(v) for _, v in sorted(c.items())) if c else "-"

    lines = [("synthetic test, depigmented Dice (pooled)", ">= 0.92", lambda d: f(d.get("synth_test", {}).get("depig_dice"))),
             ("hard synthetic test (dark tones, extensive, residual)", "", lambda d: f(d.get("synth_test_hard", {}).get("depig_dice"))),
             ("ITA-tertile gap of depigmented Dice, synthetic test", "<= 0.05",
              lambda d: f(d.get("synth_test", {}).get("ita_gap_depig_dice"))),
             ("ITA-tertile gap, hard synthetic test", "", lambda d: f(d.get("synth_test_hard", {}).get("ita_gap_depig_dice"))),
             ("skin Dice per ITA tertile, skin test photos (T1 darkest)", ">= 0.93 each",
              lambda d: " / ".join(f(x) for x in d.get("skin_test", {}).get("ita_skin_dice", {}).values()) or "-"),
             ("skin test photos with > 5 % called depigmented", "no more than today",
              lambda d: f"{d['skin_test']['false_alarms']} of {d['skin_test']['n']}" if "skin_test" in d else "-"),
             ("real dev val polygons, depigmented Dice (pooled)", ">= 0.85", lambda d: f(d.get("real_val", {}).get("depig_dice"))),
             ("F-VASI per-visit MAE, per cohort (seed order)", "<= 0.08", lambda d: cohort(d, lambda v: f"{v['f_vasi_mae']:.3f}")),
             ("T-VASI per-visit MAE", "<= 0.35", lambda d: cohort(d, lambda v: f"{v['t_vasi_mae']:.2f}")),
             ("F-VASI90 rate, run - truth (pp)", "within 5", lambda d: cohort(d, lambda v: f"{v['f_vasi90_run'] - v['f_vasi90_true']:+.0f}")),
             ("T-VASI50 rate, run - truth (pp)", "within 5", lambda d: cohort(d, lambda v: f"{v['t_vasi50_run'] - v['t_vasi50_true']:+.0f}")),
             ("lesion-free cohort photos above 5 %", "no more than today", lambda d: cohort(d, lambda v: str(v["false_alarms"])))]
    out = ["| measurement | target | " + " | ".join(ds) + " |", "|---|---|" + "---|" * len(ds)]
    for label, target, fn in lines:
        out.append(f"| {label} | {target} | " + " | ".join(fn(d) for d in ds.values()) + " |")
    if len(ds) == 2:
        out += [""] + shipping(*ds.values())
    return out


def summary(d: dict) -> dict[str, float]:
    """The shipping rule's quantities of one final harness.json (means over its cohorts)."""
    c = list(d["cohorts"].values())
    mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
    return {"synth_test": d["synth_test"]["depig_dice"], "synth_test_hard": d["synth_test_hard"]["depig_dice"],
            "skin_worst": min(d["skin_test"]["ita_skin_dice"].values()),
            **{f"skin_{k}": v for k, v in d["skin_test"]["ita_skin_dice"].items()},
            "f_mae": mean([v["f_vasi_mae"] for v in c]), "t_mae": mean([v["t_vasi_mae"] for v in c]),
            "f90_err": mean([abs(v["f_vasi90_run"] - v["f_vasi90_true"]) for v in c]),
            "t50_err": mean([abs(v["t_vasi50_run"] - v["t_vasi50_true"]) for v in c]),
            "skin_fa": d["skin_test"]["false_alarms"], "cohort_fa": sum(v["false_alarms"] for v in c)}


# RULE.md, shipping: (quantity, better direction, tolerance of worsening)
TOLERANCES = [("synth_test", 1, 0.01), ("skin_T1", 1, 0.01), ("skin_T2", 1, 0.01), ("skin_T3", 1, 0.01),
              ("f_mae", -1, 0.01), ("t_mae", -1, 0.03), ("f90_err", -1, 5.0), ("t50_err", -1, 5.0),
              ("skin_fa", -1, 1), ("cohort_fa", -1, 2)]
GAINS = ["synth_test", "synth_test_hard", "skin_worst", "f_mae", "t_mae"]


def shipping(base: dict, cand: dict) -> list[str]:
    """RULE.md's shipping rule, candidate against base: one line per condition and the verdict."""
    b, c = summary(base), summary(cand)
    lines, ok1 = ["Shipping rule (RULE.md), second model against the first:"], True
    for k, sign, tol in TOLERANCES:
        worse = (b[k] - c[k]) * sign
        bad = worse > tol + 1e-12
        ok1 &= not bad
        lines.append(f"- {k}: {b[k]:.3f} -> {c[k]:.3f} ({'BREAKS' if bad else 'within'} tolerance {tol})")
    gains = [k for k in GAINS if (c[k] - b[k]) * (1 if k in ("synth_test", "synth_test_hard", "skin_worst") else -1)
             >= 0.02 - 1e-12]
    lines.append(f"- improved by >= 0.02: {', '.join(gains) or 'none'}")
    lines.append(f"- verdict: {'PASSES' if ok1 and gains else 'FAILS'}")
    return lines


def main() -> int:
    if sys.argv[1:2] == ["--final"]:
        print("\n".join(final_rows(sys.argv[2:])))
        return 0
    print("| candidate | D1 synth val | D2 hard | S skin T1 / T2 / T3 | FA | C-F | C-T | F-VASI90 err pp | "
          "T-VASI50 err pp | C-FA | real val (report) | D1 ITA gap |")
    print("|---" * 12 + "|")
    for n in sys.argv[1:]:
        print(row(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
