"""Calibration through ``vitiseg run``: photos.csv columns, patch areas in cm2, the hand-unit photo, the report's
calibration section and its skin-colour flags."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.io.images import read_mask, read_rgb
from vitiseg.pipeline.run import run
from vitiseg.segmentation.load import load_segmenter
from vitiseg.synth.targets import add_target, apply_cast, chart_card, marker_sticker

from helpers import SHARED_DATA, SKIN_BOX, KeySegmenter, key_photo, needs_skin, save

CFG = load_config(overrides={"face": {"area": "skin"}, "calibration": {"marker": {"size_cm": 2.0}}})


def referenced_photo(depig: list[tuple[int, int, int, int]], gains, exposure: float) -> np.ndarray:
    """A key photo with a ColorChecker and a 2-cm marker of 40 px (20 px per cm), under a cast."""
    rgb, cls = key_photo(360, 480, (20, 340, 20, 300), depig)
    rgb, _, _, _ = add_target(rgb, cls, chart_card(24), 170, -6.0)
    sticker, side = marker_sticker("DICT_4X4_50", 0, 8)
    rgb, _, _, _ = add_target(rgb, cls, sticker, 40.0 * sticker.shape[1] / side, 15.0)
    return apply_cast(rgb, gains, exposure)


def test_run_with_chart_and_marker(tmp_path: Path) -> None:
    visits = tmp_path / "visits"
    save(visits / "P01/v1/trunk.png", referenced_photo([(40, 140, 40, 200), (200, 240, 60, 100)], (1.25, 1.0, 0.7), 1))
    save(visits / "P01/v2/trunk.png", referenced_photo([(40, 100, 40, 200)], (0.7, 1.0, 1.25), 0.8))
    rgb, _ = key_photo(100, 120, SKIN_BOX, [(10, 30, 10, 110)])
    save(visits / "P01/v1/face.png", rgb)
    out = tmp_path / "out"
    summary = run(visits, out, CFG, segmenter=KeySegmenter(), progress=False)
    assert summary["counts"]["failed"] == 0
    ph = pd.read_csv(out / "photos.csv").set_index("path")
    t1 = ph.loc["P01/v1/trunk.png"]
    assert t1["chart"] == "corrected" and t1["chart_de00_after"] <= 2.0 < t1["chart_de00_before"]
    assert t1["px_per_cm"] == pytest.approx(20.0, rel=0.01) and t1["markers"] == "1 marker"
    # the corrected photo is segmented exactly: 100 x 160 + 40 x 40 depigmented px, the references are not skin
    assert t1["depigmented_px"] == 16000 + 1600
    assert t1["depigmented_cm2"] == pytest.approx(17600 / t1["px_per_cm"] ** 2, abs=1e-3)
    assert t1["skin_cm2"] == pytest.approx(t1["skin_px"] / t1["px_per_cm"] ** 2, abs=1e-3)
    face = ph.loc["P01/v1/face.png"]
    assert (face["chart"], face["normalisation"], face["markers"]) == ("none", "none", "no marker")
    assert np.isnan(face["px_per_cm"]) and np.isnan(face["skin_cm2"]) and np.isnan(face["chart_de00_after"])
    patches = pd.read_csv(out / "patch_areas.csv")
    assert patches[patches["path"] == "P01/v1/trunk.png"]["area_px"].tolist() == [16000, 1600]
    assert patches["area_cm2"].iloc[0] == pytest.approx(16000 / t1["px_per_cm"] ** 2, abs=1e-3)
    assert pd.read_csv(out / "hand_units.csv").empty
    colour = pd.read_csv(out / "skin_colour.csv")
    trunk = colour[colour["region"] == "trunk"].iloc[0]
    assert trunk["charts"] == "both" and abs(trunk["delta_L"]) < 0.5 and not trunk["flagged"]
    html = (out / "report.html").read_text()
    assert "Calibration and consistency" in html and "2 colour-corrected by a ColorChecker" in html
    assert "patches&#x27; mean CIEDE2000" in html
    # resumable: the second run reuses every photo and writes the same tables
    first = (out / "photos.csv").read_text()
    again = run(visits, out, CFG, segmenter=KeySegmenter(), progress=False)
    assert again["counts"]["reused"] == 3 and (out / "photos.csv").read_text() == first


def test_a_tan_is_flagged_in_the_report(tmp_path: Path) -> None:
    visits = tmp_path / "visits"
    save(visits / "P01/v1/trunk.png", referenced_photo([(40, 140, 40, 200)], (1.0, 1.0, 1.0), 1.0))
    tanned = referenced_photo([(40, 140, 40, 200)], (1.0, 1.0, 1.0), 1.0)
    skin = np.all(tanned == (196, 142, 112), axis=-1)
    tanned[skin] = (176, 122, 92)  # darker healthy skin, same light (the chart is unchanged)
    save(visits / "P01/v2/trunk.png", tanned)
    out = tmp_path / "out"
    run(visits, out, CFG, segmenter=KeySegmenter(), progress=False)
    colour = pd.read_csv(out / "skin_colour.csv")
    assert colour["flagged"].tolist() == [True] and colour["charts"].tolist() == ["both"]
    assert colour["delta_L"].iloc[0] < -5
    html = (out / "report.html").read_text()
    assert "1 flagged" in html and "the skin&#x27;s colour changed (tan?)" in html


@needs_skin
def test_palm_photo_gives_the_patients_hand_unit(tmp_path: Path) -> None:
    hgr = SHARED_DATA / "skin" / "hgr_hands_subset"
    rgb = read_rgb(hgr / "images" / "0_A_hgr2B_id01_1.jpg")
    skin = (read_mask(hgr / "masks" / "0_A_hgr2B_id01_1.png") > 0).astype(np.uint8)
    sticker, side = marker_sticker("DICT_4X4_50", 4, 8)
    palm, cls, _, _ = add_target(rgb, skin, sticker, 40.0 * sticker.shape[1] / side, 0.0)
    visits = tmp_path / "visits"
    save(visits / "P01/v1/palm.png", palm)
    save(visits / "P01/v1/hands.png", palm)
    save(visits / "P01/v2/palm.png", rgb)  # no marker: an error row for that photo, the rest goes on
    out = tmp_path / "out"
    seg = load_segmenter(CFG.segmentation.model_copy(update={"model": "classical"}), CFG.normalise)
    summary = run(visits, out, CFG, segmenter=seg, progress=False)
    assert summary["counts"]["failed"] == 1
    ph = pd.read_csv(out / "photos.csv").set_index("path")
    assert ph.loc["P01/v2/palm.png", "error"].startswith("palm photo: no physical scale (no marker)")
    hu = ph.loc["P01/v1/palm.png", "hand_unit_cm2"]
    from vitiseg.calibration.hand_unit import detect_hands, hand_mask

    truth = hand_mask(cls > 0, detect_hands(palm)[0]).sum() / 400.0  # 20 px per cm
    assert hu == pytest.approx(truth, rel=0.15)
    table = pd.read_csv(out / "hand_units.csv")
    assert table[["visit_id", "region"]].values.tolist() == [["v1", "hands"]]
    assert table["skin_hu"].iloc[0] == pytest.approx(ph.loc["P01/v1/hands.png", "skin_cm2"] / hu, rel=1e-3)
    assert table["lund_browder_hu"].iloc[0] == 5.0
    regions = pd.read_csv(out / "regions.csv")
    assert "palm" not in set(regions["region"])  # the hand-unit photo is not scored
    assert "Hand units: the patient" in (out / "report.html").read_text()
