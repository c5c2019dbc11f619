#!/usr/bin/env python
"""Pattern thresholds of vitiseg.tracking.patches, set on a calibration cohort (rule in README.md).

    python research/2026-12-01-tracking/calibrate_patterns.py CAL_EVAL/patches.csv

CAL_EVAL/patches.csv: written by ``scripts/tracking_accuracy.py --out CAL_EVAL`` on the calibration cohort. Every
patch whose pattern came from its border AUC (not none / complete / not visible) is reclassified for each pair of
thresholds on a 0.05 grid; the pair with the highest accuracy on the scored patches wins (ties: nearest to the
defaults 0.85 / 0.55).
"""

import sys

import numpy as np
import pandas as pd

from vitiseg.evaluation.tracking_accuracy import MAX_TRUE_SHARE, MIN_MATCH, MIN_TRUE_SHARE

p = pd.read_csv(sys.argv[1], keep_default_na=False, na_values=[""])
sc = p[p["pattern_true"].notna() & (p["share_true"] >= MIN_TRUE_SHARE) & (p["share_true"] <= MAX_TRUE_SHARE)
       & (p["match"] >= MIN_MATCH)].copy()
by_auc = sc["pattern_est"].isin(["marginal", "perifollicular", "mixed"])
print(f"{len(sc)} scored patches; border AUC by true pattern (median, IQR):")
for t, g in sc[by_auc].groupby("pattern_true"):
    print(f"  {t:15s} n={len(g):3d} {g.border_auc.median():.3f} ({g.border_auc.quantile(.25):.3f}-"
          f"{g.border_auc.quantile(.75):.3f})")
best = None
for hi in np.arange(0.60, 1.0001, 0.05):
    for lo in np.arange(0.30, hi + 1e-9, 0.05):
        est = sc["pattern_est"].where(~by_auc, np.where(sc["border_auc"] >= hi, "marginal",
                                                        np.where(sc["border_auc"] <= lo, "perifollicular", "mixed")))
        acc = float((est == sc["pattern_true"]).mean())
        key = (acc, -abs(hi - 0.85) - abs(lo - 0.55))
        if best is None or key > best[0]:
            best = (key, round(hi, 2), round(lo, 2))
print(f"best: marginal_auc {best[1]}, perifollicular_auc {best[2]}: accuracy {100 * best[0][0]:.1f} %")
