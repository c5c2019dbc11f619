"""The plan of a synthetic trial cohort hits the published figures exactly on its targets."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.config import load_regions
from vitiseg.synth.trial.plan import cohort_statistics, plan_cohort
from vitiseg.synth.trial.presets import PRESETS, REGIONS


def test_ruxolitinib_plan_hits_published_figures():
    pr = PRESETS["ruxolitinib_wk12"]
    for seed in (0, 1, 2):
        plans = plan_cohort(pr, np.random.default_rng([seed, 1]))
        rows = [{"patient_id": p["patient_id"], "visit_id": v, "f_vasi": p["f"][i], "t_vasi": p["t"][i]}
                for p in plans for i, v in enumerate(pr.visits)]
        st = cohort_statistics(rows, list(pr.visits))
        tg = pr.targets
        assert st["n"] == 50
        assert st["f_vasi_baseline_median"] == pytest.approx(tg.f_vasi_baseline_median, abs=1e-4)
        assert st["f_vasi_final_median"] == pytest.approx(tg.f_vasi_final_median, abs=1e-4)
        assert st["t_vasi_baseline_median"] == pytest.approx(tg.t_vasi_baseline_median, abs=1e-4)
        assert st["t_vasi_final_median"] == pytest.approx(tg.t_vasi_final_median, abs=1e-4)
        assert st["f_vasi75_rate"] == 0.40 and st["f_vasi90_rate"] == 0.10 and st["t_vasi50_rate"] == 0.42
        assert st["face_involved_baseline_rate"] == 1.0
        assert 0.5 <= st["bsa_baseline_min"] and st["bsa_baseline_max"] <= 10.0
        hu = {r: s.hand_units for r, s in load_regions().regions.items()}
        for p in plans:
            for i in range(len(pr.visits)):
                fr = p["frac"][i]
                assert all(0 <= fr[r] <= 1 for r in REGIONS)
                assert p["t"][i] == pytest.approx(sum(hu[r] * fr[r] for r in REGIONS), rel=1e-9)
                assert p["f"][i] == pytest.approx(3 * fr["face"], rel=1e-9)
            for thr, val in ((0.25, p["f"][1] / p["f"][0]), (0.10, p["f"][1] / p["f"][0]),
                             (0.5, p["t"][1] / p["t"][0])):
                assert abs(val - thr) >= 0.02 - 1e-9  # no flag can flip on rendering error
