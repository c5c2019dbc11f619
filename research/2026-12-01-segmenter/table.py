#!/usr/bin/env python
"""Comparison table of research/2026-12-01-segmenter from the harness outputs (scripts/dev_harness.py).

A candidate NAME is measured in ``runs/harness/NAME/harness.json`` (else the copy kept in ``harness/NAME.json`` here) and, when its cohorts ran in separate processes,
``runs/harness/NAME_c1`` / ``NAME_c2``; their sections are merged. Prints the markdown table (RULE.md ids).

    python research/2026-12-01-segmenter/table.py shipped short_lite0 short_lite0_skintone

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


def main() -> int:
    print("| candidate | D1 synth val | D2 hard | S skin T1 / T2 / T3 | FA | C-F | C-T | F-VASI90 err pp | "
          "T-VASI50 err pp | C-FA | real val (report) | D1 ITA gap |")
    print("|---" * 12 + "|")
    for n in sys.argv[1:]:
        print(row(n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
