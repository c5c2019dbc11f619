"""Compare the scores of a ``vitiseg run`` with the exact truth of a synthetic cohort and print the figures.

The cohort comes from ``vitiseg synth cohort`` (truth in ``VISITS_truth/``: ``visits.csv``, ``patients.csv``); the
run from ``vitiseg run VISITS --out OUT`` (``OUT/visits.csv``, ``OUT/longitudinal.csv``, ``OUT/regions.csv``).
Prints a markdown table (median F-VASI / T-VASI per visit, responder rates, per-visit MAE, bias and Pearson r) and
the per-region error of the depigmented fraction, and writes the same numbers to ``--json`` if given.

    vitiseg synth cohort --skin-root ../shared/data/skin --out V --preset ruxolitinib_wk12 --seed 0
    vitiseg run V --out OUT
    python -m vitiseg.evaluation.cohort_accuracy --truth V_truth --run OUT     (or scripts/cohort_accuracy.py)

Several cohorts (``--truth A_truth --run A_out --truth B_truth --run B_out``, paired in order) are compared one by
one and then summarised side by side with their mean: two cohorts of the same preset can differ more than two models
on one cohort, so compare models on more than one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from scipy import stats

from ..report.sections import UNCERTAIN_SHARE_WARN

REGION_COLUMNS = ["face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet"]


def rate(s: pd.Series) -> float:
    s = s.dropna().astype(str).str.lower().map({"true": True, "false": False}).dropna()
    return float(100.0 * s.mean()) if len(s) else float("nan")


def compare(truth_dir: Path, run_dir: Path) -> dict:
    tv = pd.read_csv(truth_dir / "visits.csv", dtype={"patient_id": str, "visit_id": str})
    tp = pd.read_csv(truth_dir / "patients.csv", dtype={"patient_id": str})
    rv = pd.read_csv(run_dir / "visits.csv", dtype={"patient_id": str, "visit_id": str})
    rl = pd.read_csv(run_dir / "longitudinal.csv", dtype={"patient_id": str, "visit_id": str})
    m = tv.merge(rv, on=["patient_id", "visit_id"], suffixes=("_true", "_run"), how="left")
    out: dict = {"n_patients": int(tp.shape[0]), "n_visits_truth": int(tv.shape[0]),
                 "n_visits_scored": int(m["f_vasi_run"].notna().sum()), "visits": {}, "per_visit_error": {}}
    for vid, g in m.groupby("visit_id", sort=False):
        out["visits"][vid] = {
            "f_vasi_median_true": float(g["f_vasi_true"].median()),
            "f_vasi_median_run": float(g["f_vasi_run"].median()),
            "t_vasi_median_true": float(g["t_vasi_true"].median()),
            "t_vasi_median_run": float(g["t_vasi_run"].median()),
        }
    for score in ("f_vasi", "t_vasi"):
        ok = m[[f"{score}_true", f"{score}_run"]].dropna()
        err = ok[f"{score}_run"] - ok[f"{score}_true"]
        r = stats.pearsonr(ok[f"{score}_true"], ok[f"{score}_run"]).statistic if len(ok) > 2 else float("nan")
        out["per_visit_error"][score] = {"n": int(len(ok)), "mae": float(err.abs().mean()),
                                         "bias": float(err.mean()), "pearson_r": float(r)}
    final = rl[rl["visit_id"] == tp["final_visit_id"].iloc[0]]
    out["responders"] = {}
    for col in ("f_vasi50", "f_vasi75", "f_vasi90", "t_vasi50"):
        out["responders"][col] = {"true_pct": rate(tp[col]), "run_pct": rate(final[col])}
        both = tp[["patient_id", col]].merge(final[["patient_id", col]], on="patient_id", suffixes=("_t", "_r"))
        both = both[both[f"{col}_t"].astype(str).str.lower().isin(["true", "false"])]  # defined in the truth
        a = both[f"{col}_t"].astype(str).str.lower() == "true"
        b = both[f"{col}_r"].astype(str).str.lower() == "true"
        out["responders"][col]["agreement_pct"] = float(100.0 * (a == b).mean()) if len(both) else float("nan")
    # per-region fraction error (photo regions of the run vs the truth fractions of the visit)
    reg = pd.read_csv(run_dir / "regions.csv", dtype={"patient_id": str, "visit_id": str})
    rows = {}
    for r in (r for r in REGION_COLUMNS if f"frac_{r}" in tv.columns):  # a cohort may leave regions out
        t = tv[["patient_id", "visit_id", f"frac_{r}"]]
        p = reg[reg["region"] == r][["patient_id", "visit_id", "fraction"]]
        j = t.merge(p, on=["patient_id", "visit_id"]).dropna()
        if len(j):
            e = 100.0 * (j["fraction"] - j[f"frac_{r}"])
            rows[r] = {"n": int(len(j)), "mae_pp": float(e.abs().mean()), "bias_pp": float(e.mean())}
    out["region_fraction_error"] = rows
    photos = photo_table(run_dir / "photos.csv", tv)
    out["uncertainty_flag"] = flag_check(photos)
    out["photo_checks"] = photo_checks(photos)
    out["per_visit"] = [
        {"patient_id": r.patient_id, "visit_id": r.visit_id, "f_vasi_true": float(r.f_vasi_true),
         "f_vasi_run": float(r.f_vasi_run), "t_vasi_true": float(r.t_vasi_true), "t_vasi_run": float(r.t_vasi_run),
         "t_vasi_partial": str(getattr(r, "t_vasi_partial_run", "")).lower() == "true"}
        for r in m.itertuples(index=False)]
    return out


def per_visit_table(res: dict) -> str:
    """Markdown table: each patient visit's measured against true F-VASI and T-VASI (partial T-VASI marked)."""
    lines = ["| patient | visit | F-VASI true | F-VASI measured | T-VASI true | T-VASI measured |", "|---|---|---|---|---|---|"]
    for r in res["per_visit"]:
        p = " (partial)" if r["t_vasi_partial"] else ""
        lines.append(f"| {r['patient_id']} | {r['visit_id']} | {r['f_vasi_true']:.2f} | {r['f_vasi_run']:.2f} | "
                     f"{r['t_vasi_true']:.2f}{p} | {r['t_vasi_run']:.2f}{p} |")
    return "\n".join(lines)


def photo_table(photos_csv: Path, tv: pd.DataFrame) -> pd.DataFrame | None:
    """Scored photos joined with their visit's true fraction for their region (``true_fraction``, 0-1).

    Exact per photo when a region has one photo, as in the synthetic cohorts. None when the run has no photos.csv."""
    if not photos_csv.is_file():
        return None
    ph = pd.read_csv(photos_csv, dtype={"patient_id": str, "visit_id": str})
    long = tv.melt(id_vars=["patient_id", "visit_id"], value_vars=[f"frac_{r}" for r in REGION_COLUMNS
                                                                    if f"frac_{r}" in tv.columns],
                   var_name="region", value_name="true_fraction")
    long["region"] = long["region"].str[len("frac_"):]
    return ph.merge(long, on=["patient_id", "visit_id", "region"]).dropna(subset=["fraction", "true_fraction"])


def flag_check(j: pd.DataFrame | None) -> dict:
    """Per-photo fraction error of photos flagged uncertain (uncertain_share >= the report's cut) vs the others."""
    if j is None or "uncertain_share" not in j.columns:
        return {}
    j = j.dropna(subset=["uncertain_share"])
    err = 100.0 * (j["fraction"] - j["true_fraction"]).abs()
    flag = j["uncertain_share"] >= UNCERTAIN_SHARE_WARN
    res = {"cut": UNCERTAIN_SHARE_WARN}
    for name, m in (("flagged", flag), ("not_flagged", ~flag)):
        res[name] = {"n": int(m.sum()), "mae_pp": float(err[m].mean()) if m.any() else float("nan"),
                     "over_10pp_pct": float(100.0 * (err[m] > 10).mean()) if m.any() else float("nan")}
    return res


FALSE_ALARM_CUT = 0.05  # a lesion-free photo with more of its skin called depigmented is a false alarm
LARGE_INVOLVEMENT = 0.20  # photos with at least this true fraction ...
UNDER_CALL_RATIO = 0.5  # ... are under-called when the measured fraction is below this share of the truth


def photo_checks(j: pd.DataFrame | None) -> dict:
    """False alarms on lesion-free photos and gross under-calls on photos with large involvement.

    ``lesion_free``: photos whose true fraction is 0: n, mean measured fraction (%), how many exceed
    ``FALSE_ALARM_CUT``. ``large``: photos with true fraction >= ``LARGE_INVOLVEMENT``: n, how many were measured
    below ``UNDER_CALL_RATIO`` x the truth."""
    if j is None:
        return {}
    free = j[j["true_fraction"] == 0]
    big = j[j["true_fraction"] >= LARGE_INVOLVEMENT]
    return {
        "lesion_free": {"n": int(len(free)),
                        "mean_pct": float(100.0 * free["fraction"].mean()) if len(free) else float("nan"),
                        "n_over_cut": int((free["fraction"] > FALSE_ALARM_CUT).sum()), "cut": FALSE_ALARM_CUT},
        "large": {"n": int(len(big)), "min_true": LARGE_INVOLVEMENT, "ratio": UNDER_CALL_RATIO,
                  "n_under_called": int((big["fraction"] < UNDER_CALL_RATIO * big["true_fraction"]).sum())},
    }


def chain(values: list[float], fmt: str = "{:.2f}") -> str:
    return " -> ".join(fmt.format(x) for x in values)


def table(res: dict) -> str:
    v = res["visits"]
    ids = list(v)
    f = res["per_visit_error"]["f_vasi"]
    t = res["per_visit_error"]["t_vasi"]
    rr = res["responders"]
    fcols = ("f_vasi50", "f_vasi75", "f_vasi90")

    def rates(cols: tuple[str, ...], key: str) -> str:
        """``a / b / c %``; ``-`` for an undefined rate (e.g. T-VASI50 of partial visits), no unit when all are."""
        text = " / ".join("-" if rr[c][key] != rr[c][key] else f"{rr[c][key]:.0f}" for c in cols)
        return text if set(text) <= set("- /") else text + " %"

    lines = ["| | truth | vitiseg | |", "|---|---|---|---|"]
    lines.append(
        f"| median F-VASI {' -> '.join(ids)} | {chain([v[i]['f_vasi_median_true'] for i in ids])} | "
        f"{chain([v[i]['f_vasi_median_run'] for i in ids])} | per visit: MAE {f['mae']:.2f}, bias {f['bias']:+.2f}, "
        f"Pearson r {f['pearson_r']:.2f} |"
    )
    lines.append(f"| F-VASI50 / 75 / 90 | {rates(fcols, 'true_pct')} | {rates(fcols, 'run_pct')} | "
                 f"agreement per patient {rates(fcols, 'agreement_pct')} |")
    lines.append(
        f"| median T-VASI {' -> '.join(ids)} | {chain([v[i]['t_vasi_median_true'] for i in ids])} | "
        f"{chain([v[i]['t_vasi_median_run'] for i in ids])} | per visit: MAE {t['mae']:.2f}, bias {t['bias']:+.2f}, "
        f"r {t['pearson_r']:.2f} |"
    )
    lines.append(f"| T-VASI50 | {rates(('t_vasi50',), 'true_pct')} | {rates(('t_vasi50',), 'run_pct')} | "
                 f"agreement per patient {rates(('t_vasi50',), 'agreement_pct')} |")
    lines += ["", "| region | n | fraction MAE (pp) | bias (pp) |", "|---|---|---|---|"]
    for r, d in res["region_fraction_error"].items():
        lines.append(f"| {r} | {d['n']} | {d['mae_pp']:.2f} | {d['bias_pp']:+.2f} |")
    u = res.get("uncertainty_flag") or {}
    if u:
        lines += ["", f"| photos (uncertain_share >= {u['cut']:.2f}) | n | fraction MAE (pp) | error > 10 pp |",
                  "|---|---|---|---|"]
        for name in ("flagged", "not_flagged"):
            d = u[name]
            lines.append(f"| {name.replace('_', ' ')} | {d['n']} | {d['mae_pp']:.2f} | {d['over_10pp_pct']:.0f} % |")
    pc = res.get("photo_checks") or {}
    if pc:
        fr, lg = pc["lesion_free"], pc["large"]
        lines += ["", f"Lesion-free photos: {fr['n']}, mean measured fraction {fr['mean_pct']:.2f} %, "
                  f"{fr['n_over_cut']} above {100 * fr['cut']:.0f} %. Photos with >= {100 * lg['min_true']:.0f} % "
                  f"involvement: {lg['n']}, {lg['n_under_called']} measured below {100 * lg['ratio']:.0f} % of the "
                  "truth."]
    return "\n".join(lines)


SUMMARY_KEYS = (
    ("F-VASI MAE", lambda r: r["per_visit_error"]["f_vasi"]["mae"]),
    ("F-VASI bias", lambda r: r["per_visit_error"]["f_vasi"]["bias"]),
    ("F-VASI r", lambda r: r["per_visit_error"]["f_vasi"]["pearson_r"]),
    ("T-VASI MAE", lambda r: r["per_visit_error"]["t_vasi"]["mae"]),
    ("T-VASI bias", lambda r: r["per_visit_error"]["t_vasi"]["bias"]),
    ("T-VASI r", lambda r: r["per_visit_error"]["t_vasi"]["pearson_r"]),
    ("F-VASI90 run - true (pp)", lambda r: r["responders"]["f_vasi90"]["run_pct"] - r["responders"]["f_vasi90"]["true_pct"]),
    ("T-VASI50 run - true (pp)", lambda r: r["responders"]["t_vasi50"]["run_pct"] - r["responders"]["t_vasi50"]["true_pct"]),
    ("false alarms", lambda r: r["photo_checks"]["lesion_free"]["n_over_cut"] if r.get("photo_checks") else float("nan")),
    ("under-calls", lambda r: r["photo_checks"]["large"]["n_under_called"] if r.get("photo_checks") else float("nan")),
)


def summary(results: list[dict], names: list[str]) -> dict:
    """Headline numbers of several cohorts (``SUMMARY_KEYS``) and their mean: ``{"cohorts": {name: {...}}, "mean"}``."""
    per = {n: {k: float(fn(r)) for k, fn in SUMMARY_KEYS} for n, r in zip(names, results)}
    mean = {k: float(pd.Series([per[n][k] for n in names]).mean()) for k, _ in SUMMARY_KEYS}
    return {"cohorts": per, "mean": mean}


def summary_table(summ: dict) -> str:
    keys = [k for k, _ in SUMMARY_KEYS]
    lines = ["| cohort | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, d in list(summ["cohorts"].items()) + [("mean", summ["mean"])]:
        lines.append(f"| {name} | " + " | ".join(f"{d[k]:.2f}" if k.startswith(("F-VASI ", "T-VASI ")) and
                                                 "(pp)" not in k else f"{d[k]:.1f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--truth", required=True, action="append",
                    help="truth folder of the synthetic cohort (VISITS_truth); repeat for several cohorts")
    ap.add_argument("--run", required=True, action="append",
                    help="output folder of vitiseg run; one per --truth, in the same order")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--per-visit", action="store_true",
                    help="also print each patient visit's measured against true scores (the README's example table)")
    a = ap.parse_args(argv)
    if len(a.truth) != len(a.run):
        ap.error(f"{len(a.truth)} --truth but {len(a.run)} --run: give them in pairs")
    results, ok = [], True
    for truth, run in zip(a.truth, a.run):
        res = compare(Path(truth), Path(run))
        if len(a.truth) > 1:
            print(f"\n## {truth} vs {run}")
        print(f"{res['n_visits_scored']} of {res['n_visits_truth']} visits scored, {res['n_patients']} patients")
        print(table(res))
        if a.per_visit:
            print("\n" + per_visit_table(res))
        results.append(res)
        ok = ok and res["n_visits_scored"] == res["n_visits_truth"]
    out: dict = results[0]
    if len(results) > 1:
        summ = summary(results, [str(t) for t in a.truth])
        print("\n## all cohorts\n" + summary_table(summ))
        out = {"cohorts": dict(zip([str(t) for t in a.truth], results)), "summary": summ}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
