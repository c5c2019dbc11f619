"""Photos measured in threads: the thread plan, and the same masks and tables as one photo at a time (the speed-up
changes no mask)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitiseg.config import load_config
from vitiseg.io.images import read_mask, read_rgb, resize_long_side
from vitiseg.pipeline import run as run_mod
from vitiseg.pipeline.threads import ThreadPlan, plan_threads
from vitiseg.segmentation.base import segment_photo
from vitiseg.segmentation.load import load_segmenter

from helpers import sample_photos, save

REGIONS = ("hands", "trunk", "upper_limbs", "lower_limbs", "feet", "neck")


def test_thread_plan() -> None:
    assert plan_threads(1, "local", thread_safe=True, cores=2) == ThreadPlan(photos=2, intra_op=1)
    assert plan_threads(1, "local", thread_safe=False, cores=2) == ThreadPlan(photos=1, intra_op=0)  # PyTorch's own
    assert plan_threads(1, "local", thread_safe=True, cores=16) == ThreadPlan(photos=4, intra_op=4)
    assert plan_threads(2, "local", thread_safe=True, cores=8) == ThreadPlan(photos=1, intra_op=4)
    assert plan_threads(3, "ray", thread_safe=True, cores=2) == ThreadPlan(photos=1, intra_op=1)
    assert plan_threads(1, "local", thread_safe=True, cores=1) == ThreadPlan(photos=1, intra_op=1)


@pytest.fixture(scope="module")
def jpeg_visits(tmp_path_factory) -> Path:
    """Two patients x two visits of realistic JPEG photos of different sizes."""
    root = tmp_path_factory.mktemp("visits")
    photos = sample_photos(8, seed=7)
    for i, (_, rgb) in enumerate(photos):
        save(root / f"P0{i // 4}" / f"v{i // 2 % 2}" / f"{REGIONS[i % len(REGIONS)]}.jpg", rgb)
    return root


def _run(visits: Path, out: Path, plan: ThreadPlan, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.setattr(run_mod, "plan_threads", lambda *a, **k: plan)
    cfg = load_config(overrides={"face": {"area": "skin"}, "report": False})
    return run_mod.run(visits, out, cfg, progress=False)


def test_photos_in_threads_give_the_masks_of_one_photo_at_a_time(jpeg_visits: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    threaded = _run(jpeg_visits, tmp_path / "threads", ThreadPlan(photos=3, intra_op=1), monkeypatch)
    single = _run(jpeg_visits, tmp_path / "single", ThreadPlan(photos=1, intra_op=2), monkeypatch)
    assert threaded["threads"] == {"photos_per_process": 3, "intra_op": 1}
    assert single["threads"] == {"photos_per_process": 1, "intra_op": 2}
    assert threaded["model"]["backend"] == "onnx" and threaded["counts"]["ok"] == 8
    masks = sorted(p.relative_to(tmp_path / "threads") for p in (tmp_path / "threads" / "masks").rglob("*.png"))
    assert len(masks) == 8
    for m in masks:
        assert (tmp_path / "threads" / m).read_bytes() == (tmp_path / "single" / m).read_bytes(), m
    for table in ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv"):
        assert (tmp_path / "threads" / table).read_bytes() == (tmp_path / "single" / table).read_bytes(), table
    # and both are the masks of the plain path: each photo read and segmented on its own
    cfg = load_config()
    seg = load_segmenter(cfg.segmentation, threads=1)
    depigmented = 0
    for m in masks:
        photo = jpeg_visits / m.relative_to("masks").with_suffix(".jpg")
        rgb = resize_long_side(read_rgb(photo, reduce_to_long_side=cfg.io.work_long_side), cfg.io.work_long_side)
        want = segment_photo(rgb, seg, cfg.io.work_long_side).classes
        assert np.array_equal(read_mask(tmp_path / "threads" / m), want), m
        depigmented += int((want == 2).sum())
    assert depigmented > 0
