"""End to end: ``vitiseg run`` on a generated visits folder whose follow-up photos were taken with a moved camera
tracks every follow-up against its baseline: change areas, per-patch shares and patterns, not-aligned and
no-baseline pairs, its own error boundary, and resume."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.pipeline.run import run
from vitiseg.synth.shapes import smooth_noise
from vitiseg.synth.trial.motion import sample_camera_motion

from helpers import BG, DEPIG, SKIN, KeySegmenter, save

N = 256
YY, XX = np.mgrid[0:N, 0:N]
SKIN_MASK = ((YY - 128) / 110.0) ** 2 + ((XX - 128) / 90.0) ** 2 < 1
A, B = (110, 115), (185, 140)  # centres of the two baseline patches (y, x)
FOLLICLES = [(185, 140), (175, 128), (195, 150), (178, 152)]


def disc(c: tuple[int, int], r: float) -> np.ndarray:
    return (YY - c[0]) ** 2 + (XX - c[1]) ** 2 <= r * r


def islands(r: float) -> np.ndarray:
    return np.any([disc(c, r) for c in FOLLICLES], axis=0)


# the scene (baseline frame) at each visit: patch A shrinks from its border, patch B gets islands at v3
DEPIGMENTED = {"v1": disc(A, 40) | disc(B, 26),
               "v2": disc(A, 30) | disc(B, 26),
               "v3": disc(A, 20) | (disc(B, 26) & ~islands(6))}


def photo(depig: np.ndarray, H: np.ndarray | None, seed: int) -> np.ndarray:
    """A key-coloured photo with skin texture (the key segmenter stays exact), seen through ``H``."""
    cls = np.where(SKIN_MASK, np.where(depig & SKIN_MASK, 2, 1), 0)
    rgb = np.array([BG, SKIN, DEPIG], np.float32)[cls]
    rng = np.random.default_rng(100)  # the texture belongs to the scene, the same at every visit
    tex = 9 * smooth_noise((N, N), 5, rng) + 5 * smooth_noise((N, N), 2, rng)
    rgb = np.clip(rgb + tex[..., None], 0, 255).astype(np.uint8)
    if H is not None:
        rgb = cv2.warpPerspective(rgb, H, (N, N), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return rgb


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    visits = root / "visits"
    motions = {v: sample_camera_motion(N, N, np.random.default_rng(i), 0.7) for i, v in enumerate(("v2", "v3"))}
    for v, dep in DEPIGMENTED.items():
        save(visits / "P01" / v / "hands.png", photo(dep, motions.get(v), 0))
    save(visits / "P01" / "v2" / "trunk.png", photo(DEPIGMENTED["v1"], None, 0))  # no trunk photo at baseline
    save(visits / "P02" / "v1" / "hands.png", photo(DEPIGMENTED["v1"], None, 0))
    other = np.zeros((N, N, 3), np.uint8)
    other[:] = BG
    other[20:80, 150:240] = SKIN  # another body part: nothing to align with
    save(visits / "P02" / "v2" / "hands.png", other)
    cfg = load_config(overrides={"report": False})
    out = root / "out"
    summary = run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)
    return visits, out, cfg, summary, motions


def test_follow_ups_are_aligned_and_the_change_areas_are_measured(tracked):
    visits, out, _, summary, _ = tracked
    ch = pd.read_csv(out / "changes.csv", dtype={"visit_id": str}, keep_default_na=False)
    assert summary["tracking"]["pairs"] == 4 and summary["counts"]["failed"] == 0
    row = {(r.patient_id, r.visit_id, r.region): r for r in ch.itertuples()}
    base = DEPIGMENTED["v1"] & SKIN_MASK
    for v in ("v2", "v3"):
        r = row[("P01", v, "hands")]
        assert r.status == "aligned" and r.method.startswith("sift"), r.reason
        rep = base & ~DEPIGMENTED[v]
        assert float(r.repigmented_pct_of_baseline) == pytest.approx(100 * rep.sum() / base.sum(), abs=1.5)
        assert float(r.new_pct_of_baseline) < 1.0
        codes = cv2.imread(str(out / r.change_map), cv2.IMREAD_UNCHANGED)
        assert codes.shape == (N, N) and (codes == 3).sum() == int(r.repigmented_px)  # the map is what was counted
    r = row[("P02", "v2", "hands")]
    assert r.status == "not_aligned" and r.reason and r.change_map == ""
    assert row[("P01", "v2", "trunk")].status == "no_baseline"


def test_patches_are_followed_visit_by_visit_with_their_pattern(tracked):
    _, out, _, _, _ = tracked
    pt = pd.read_csv(out / "patches.csv", dtype={"visit_id": str}, keep_default_na=False)
    p1 = pt[(pt.patient_id == "P01") & (pt.patch_id == 1)].set_index("visit_id")
    p2 = pt[(pt.patient_id == "P01") & (pt.patch_id == 2)].set_index("visit_id")
    assert int(p1.loc["v2", "baseline_px"]) == disc(A, 40).sum()  # the larger patch is patch 1
    assert float(p1.loc["v2", "repigmented_share"]) == pytest.approx(1 - 30 ** 2 / 40 ** 2, abs=0.03)
    assert float(p1.loc["v3", "repigmented_share"]) == pytest.approx(1 - 20 ** 2 / 40 ** 2, abs=0.03)
    assert list(p1["pattern"]) == ["marginal", "marginal"]
    assert list(p2["pattern"]) == ["none", "perifollicular"]
    p02 = pt[pt.patient_id == "P02"]
    assert set(p02["status"]) == {"not_aligned"} and (p02["pattern"] == "").all()


def test_rerun_reuses_every_pair_and_redoes_only_a_changed_one(tracked, tmp_path):
    visits, out, cfg, _, motions = tracked
    before = (out / "changes.csv").read_bytes()
    s = run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)
    assert s["tracking"]["reused"] == 3  # every pair that was aligned or refused; the no-baseline one is a lookup
    assert (out / "changes.csv").read_bytes() == before
    save(visits / "P01" / "v3" / "hands.png", photo(DEPIGMENTED["v3"], motions["v2"], 0))
    s = run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)
    assert s["tracking"]["reused"] == 2


def test_a_pair_that_fails_is_a_row_and_the_run_goes_on(tracked, tmp_path, monkeypatch):
    import vitiseg.tracking.step as step

    visits, _, cfg, _, _ = tracked
    real = step.align
    calls = []

    def broken(base, fu, c):  # pairs are tracked in order: P01 hands v2, P01 hands v3, P02 hands v2
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(base, fu, c)

    monkeypatch.setattr(step, "align", broken)
    out = tmp_path / "out"
    s = run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)
    ch = pd.read_csv(out / "changes.csv", dtype={"visit_id": str}, keep_default_na=False)
    bad = ch[ch.status == "error"]
    assert list(bad.path) == ["P01/v3/hands.png"] and "boom" in bad.reason.iloc[0]
    assert s["tracking"]["aligned"] == 1 and s["counts"]["failed"] == 0
