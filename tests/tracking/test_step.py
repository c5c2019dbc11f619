"""End to end: ``vitiseg run`` on a generated visits folder whose follow-up photos were taken with a moved camera
tracks every follow-up against its baseline: change areas, per-patch shares and patterns, not-aligned and
no-baseline pairs, its own error boundary, and resume."""

from __future__ import annotations

from pathlib import Path

import cv2
import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.io.layout import VisitsLayout
from vitiseg.pipeline.run import run
from vitiseg.tracking.step import follow_up_pairs

from helpers import TRACK_A as A
from helpers import TRACK_DEPIGMENTED as DEPIGMENTED
from helpers import TRACK_N as N
from helpers import TRACK_SKIN as SKIN_MASK
from helpers import KeySegmenter, disc, save, track_photo, write_tracking_visits


@pytest.fixture(scope="module")
def tracked(tmp_path_factory):
    root = tmp_path_factory.mktemp("track")
    visits, motions = write_tracking_visits(root / "visits")
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
    save(visits / "P01" / "v3" / "hands.png", track_photo(DEPIGMENTED["v3"], motions["v2"]))
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


def test_worker_processes_give_the_same_tables(tracked, tmp_path):
    import shutil

    from vitiseg.config import load_regions
    from vitiseg.io.layout import discover
    from vitiseg.tracking.step import track_run

    visits, out, cfg, _, _ = tracked
    copy = tmp_path / "out"
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns(".tracking", "changes*", "patches.csv"))
    rows = pd.read_csv(copy / "photos.csv", dtype=str, keep_default_na=False).to_dict("records")
    s = track_run(copy, discover(visits, load_regions()), rows, cfg, progress=False, workers=2)
    assert s["counts"]["reused"] == 0
    for name in ("changes.csv", "patches.csv"):
        assert (copy / name).read_text().splitlines() == (out / name).read_text().splitlines()


def test_palm_photos_are_references_not_followed() -> None:
    lay = VisitsLayout(Path("."), [], {"P": ["v1", "v2"]}, pd.DataFrame())
    rows = [{"patient_id": "P", "visit_id": v, "region": r, "view": "", "path": f"P/{v}/{r}.png"}
            for v in ("v1", "v2") for r in ("trunk", "palm")]
    assert [(b["path"], f["path"]) for b, f, _ in follow_up_pairs(rows, lay)] == [("P/v1/trunk.png", "P/v2/trunk.png")]
