"""Tracking truth of ``vitiseg synth cohort --camera-motion / --repigmentation patterns``: the recorded transforms
are the ones the photos were taken with, the true change maps agree with the masks and lesion table, the lesions
repigment in the pattern they are labelled with, and the tracker recovers transform, change areas and patterns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.io.images import read_mask
from vitiseg.synth.trial.motion import warp_mask
from vitiseg.synth.trial.render import generate_cohort
from vitiseg.synth.trial.repigment import lesion_labels, plan_lesions
from vitiseg.synth.trial.tracking_truth import TrackingOptions
from vitiseg.tracking.patches import classify

from helpers import SHARED_DATA, needs_skin


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("tt") / "V"
    s = generate_cohort(out, "ruxolitinib_wk12", seed=3, patients=2, size=192, background="procedural",
                        progress=False, tracking=TrackingOptions(1.0, "patterns"))
    return out, Path(s["truth_dir"]), s


def _h(row: dict) -> np.ndarray:
    return np.array([[float(row[f"h{i}{j}"]) for j in range(3)] for i in range(3)])


def test_follow_ups_are_the_baseline_scene_seen_through_the_recorded_transform(cohort):
    out, truth, s = cohort
    assert s["max_tolerance_excess"] == 0.0  # the planned fractions still hold in the moved photos
    rows = list(csv.DictReader((truth / "tracking" / "transforms.csv").open()))
    assert len(rows) == 2 * 7
    moved = 0
    for r in rows:
        H = _h(r)
        base = read_mask(truth / "masks" / r["patient_id"] / "baseline" / r["photo"].replace(".jpg", ".png"))
        fu = read_mask(truth / "masks" / r["patient_id"] / r["visit_id"] / r["photo"].replace(".jpg", ".png"))
        assert np.array_equal(fu > 0, warp_mask(H, base > 0))
        moved += not np.allclose(H, np.eye(3), atol=1e-3)
    assert moved == len(rows)
    assert json.loads((truth / "summary.json").read_text())["tracking"]["camera_motion"] == 1.0


def test_true_change_maps_agree_with_the_lesion_table(cohort):
    _, truth, _ = cohort
    les = pd.read_csv(truth / "tracking" / "lesions.csv", dtype={"patient_id": str, "visit_id": str},
                      keep_default_na=False)
    assert set(les["pattern"]) <= {"marginal", "perifollicular", "mixed"} and len(les) > 10
    for (pid, photo), g in les.groupby(["patient_id", "photo"]):
        stem = photo.replace(".jpg", ".png")
        labels, n = lesion_labels(read_mask(truth / "masks" / pid / "baseline" / stem))
        codes = read_mask(truth / "tracking" / "changes" / pid / "week12" / stem)
        assert n == len(g)
        if (g["rendered"] == "patterns").all():
            assert not (codes == 4).any()  # lesions only repigment: nothing newly depigmented
        for r in g.itertuples():
            lesion = labels == r.lesion_id
            assert (codes[lesion] >= 2).sum() == r.visible_px and (codes[lesion] == 2).sum() == r.depigmented_px


def test_generated_lesions_repigment_in_their_labelled_pattern():
    yy, xx = np.mgrid[0:400, 0:400]
    cls = np.ones((400, 400), np.uint8)
    for cy in (60, 200, 340):
        for cx in (60, 200, 340):
            cls[(yy - cy) ** 2 + (xx - cx) ** 2 <= 45 ** 2] = 2
    plan = plan_lesions(cls, np.random.default_rng(0))
    assert {"marginal", "perifollicular"} <= set(plan.patterns)
    cfg = load_config().tracking
    for k, pattern in enumerate(plan.patterns, start=1):
        lesion = plan.labels == k
        tau = plan.tau[lesion]
        s = float(np.quantile(tau, 0.4))  # 40 % repigmented
        rep = lesion & ~plan.core(s)
        got = classify(lesion, lesion, rep, cfg)
        if pattern == "marginal":
            assert got["border_auc"] > 0.95
        elif pattern == "perifollicular":
            assert got["border_auc"] < 0.6
        else:
            assert 0.6 < got["border_auc"] < 0.95


@needs_skin
def test_tracking_recovers_camera_motion_change_areas_and_patterns_on_real_skin(tmp_path):
    """Registration on true masks: median corner error well under a pixel; change areas within a few points."""
    pytest.importorskip("mediapipe")
    from vitiseg.evaluation.tracking_accuracy import evaluate, summarise

    out = tmp_path / "V"
    generate_cohort(out, "ruxolitinib_wk12", seed=5, patients=2, size=384, skin_root=SHARED_DATA / "skin",
                    progress=False, tracking=TrackingOptions(1.0, "patterns"))
    pairs, patches = evaluate(out, tmp_path / "V_truth", None, "estimated", load_config(), tmp_path / "work")
    s = summarise(pairs, patches)
    assert s["all"]["pairs"] == 14 and s["all"]["not_aligned"] <= 1
    assert s["all"]["corner_px_median"] < 0.5 and s["all"]["skin_px_p90"] < 1.0
    assert s["face"]["skin_px_median"] < 1.0
    assert s["all"]["repigmented_pct_of_baseline_mae_pp"] < 4.0
    assert s["patterns"]["scored"] >= 5 and s["patterns"]["accuracy"] >= 0.6
