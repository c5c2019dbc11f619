"""The example cohort shows each region on a photo of that region (and leaves out regions no photo shows, with a
partial T-VASI); the presets made for measurement render exactly what they rendered before the example existed."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from vitiseg.synth.backgrounds import list_backgrounds, load_background
from vitiseg.synth.trial.render import generate_cohort
from vitiseg.synth.trial.standins import NECK_IDS, TRUNK_IDS, forearm_crop, neck_crop

from helpers import SHARED_DATA, needs_skin

SKIN_ROOT = SHARED_DATA / "skin"


def _digest(root: Path) -> str:
    """SHA-256 over every file (relative path and bytes; the folder's own path replaced, it is in summary.json)."""
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes().replace(str(root).encode(), b"ROOT"))
    return h.hexdigest()


# digests of the cohorts as rendered before the example preset and its stand-ins were added
UNCHANGED = [
    ("ruxolitinib_wk12", dict(seed=3, patients=2, size=96, background="procedural"),
     "55334557e33962db7661f48c1adc5e31e1716074d65c95722de1abd7530dc08a"),
    pytest.param("ruxolitinib_wk12", dict(seed=0, patients=2, size=192, skin_root=str(SKIN_ROOT)),
                 "6aa5176b7088970e23fe518e0c6d207bed44e0f7f78589b94c6010a8f44c8d26", marks=needs_skin),
    pytest.param("small", dict(seed=1, patients=1, size=192, skin_root=str(SKIN_ROOT)),
                 "4c952e29f712c88191167f2b7e1dced484202d81e34b6336bac2ef5a811a8f02", marks=needs_skin),
]


@pytest.mark.parametrize("preset,kw,digest", UNCHANGED)
def test_existing_presets_render_byte_identical_cohorts(tmp_path: Path, preset: str, kw: dict, digest: str) -> None:
    generate_cohort(tmp_path / "v", preset, progress=False, **kw)
    assert _digest(tmp_path) == digest


def test_forearm_crop_keeps_the_arm_below_the_hand() -> None:
    skin = np.zeros((100, 80), bool)
    skin[10:30, 30:60] = True  # the hand, at the top
    skin[30:100, 40:50] = True  # the forearm
    assert forearm_crop(skin) == (10 + round(0.42 * 89), 100, 40 - 12, 50 + 12)  # 15 % of the width around the arm
    assert forearm_crop(np.zeros((10, 10), bool)) is None


@needs_skin
def test_neck_crop_lies_below_the_chin_and_is_refused_without_a_face() -> None:
    refs = {r.bg_id: r for r in list_backgrounds(SKIN_ROOT, ("pratheepan_skin",))}
    rgb, skin = load_background(refs["prat_00003"].image, refs["prat_00003"].mask)
    y0, y1, x0, x1 = neck_crop(rgb, skin)
    assert 0.2 * rgb.shape[0] < y0 < y1 < 0.45 * rgb.shape[0]  # a portrait: the neck in the upper half
    assert skin[y0:y1, x0:x1].mean() > 0.4
    assert neck_crop(np.full((200, 200, 3), 90, np.uint8), np.ones((200, 200), bool)) is None


@needs_skin
def test_example_preset_shows_each_region_on_a_photo_of_it(tmp_path: Path) -> None:
    s = generate_cohort(tmp_path / "v", "example", seed=0, patients=1, size=256, skin_root=SKIN_ROOT,
                        progress=False)
    photos = sorted(p.name for p in (tmp_path / "v" / "P001" / "baseline").iterdir())
    assert photos == ["face_front.jpg", "hands.jpg", "neck.jpg", "trunk.jpg", "upper_limbs.jpg"]
    rows = list(csv.DictReader((tmp_path / "v_truth" / "visits.csv").open()))
    for r in rows:
        assert r["t_vasi_partial"] == "True" and r["missing_regions"] == "lower_limbs;feet"
        assert r["background_neck"].split("/")[1] in NECK_IDS and r["background_trunk"].split("/")[1] in TRUNK_IDS
        assert "_hgr2B_" in r["background_upper_limbs"] and "_hgr1_" in r["background_hands"]
        hu = {"face": 3, "neck": 6, "hands": 5, "upper_limbs": 14, "trunk": 26}
        assert float(r["t_vasi"]) == pytest.approx(sum(h * float(r[f"frac_{g}"]) for g, h in hu.items()), abs=2e-5)
    pat = next(csv.DictReader((tmp_path / "v_truth" / "patients.csv").open()))
    assert pat["t_vasi50"] == "" and pat["f_vasi50"] in ("True", "False")  # partial T-VASI: no change, as measured
    assert s["stand_ins"]["neck"] == "pratheepan_skin (neck crop)"
