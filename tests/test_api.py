"""The Python API: ``import vitiseg`` stays light; ``load().measure()`` gives the numbers ``vitiseg run`` writes for the
same photo (one per-photo path); ``vitiseg.run`` returns the run's tables."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vitiseg
from vitiseg.api import Measurer
from vitiseg.config import load_config, load_regions
from vitiseg.usage import UsageError

from helpers import REPO, SKIN_BOX, KeySegmenter, key_photo, save


def test_import_vitiseg_loads_neither_torch_nor_mediapipe() -> None:
    code = ("import sys, vitiseg\nheavy = lambda: sorted(m for m in ('torch', 'mediapipe', 'cv2', 'pandas') "
            "if m in sys.modules)\nprint(heavy())\nvitiseg.load\nprint(heavy())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert r.stdout.split("\n")[:2] == ["[]", "['cv2', 'pandas']"]  # the API on first use; models only when loaded


def test_measure_equals_the_run_row_of_the_same_photo(visits_dir: Path, tmp_path: Path) -> None:
    result = vitiseg.run(visits_dir, tmp_path / "out", model="classical", face_area="skin", normalise="none",
                         progress=False, report=False)
    assert result.failed == 1 and result.report is None
    assert list(result.visits["patient_id"].unique()) == ["P01", "P02"]
    m = vitiseg.load(model="classical", face_area="skin", normalise="none")
    ph = result.photos.set_index("path")
    for rel in ("P01/v1/face.png", "P01/v1/hands.png", "P02/v2/face.png"):
        r = m.measure(visits_dir / rel)
        row = ph.loc[rel]
        assert (r.region, r.skin_px, r.depigmented_px) == (row["region"], row["skin_px"], row["depigmented_px"])
        assert r.fraction == pytest.approx(row["fraction"], abs=5e-7) and r.vasi_level == row["vasi_level"]
        assert r.mask.shape == (100, 120) and r.mask.dtype == np.uint8 and r.facial_area is None
    assert m.measure(visits_dir / "P01/v1/hands.png").overlay(64).shape == (53, 64, 3)


def test_measure_takes_arrays_regions_and_refuses_mistakes(tmp_path: Path) -> None:
    cfg = load_config(overrides={"face": {"area": "skin"}})
    key = Measurer(cfg, KeySegmenter(), load_regions())  # exact on colour-keyed photos
    rgb, truth = key_photo(100, 120, SKIN_BOX, [(10, 50, 10, 110)])
    r = key.measure(rgb, region="chest")  # an alias
    assert (r.region, r.view, r.skin_px, r.depigmented_px, r.fraction, r.vasi_level) == ("trunk", "", 8000, 4000,
                                                                                        0.5, 50)
    np.testing.assert_array_equal(r.mask, truth)
    save(tmp_path / "face_left.png", rgb)
    r = key.measure(tmp_path / "face_left.png")  # region and view from the file name, as in a visits folder
    assert (r.region, r.view, r.face_area_status, r.fraction) == ("face", "left", "skin (all skin counted: "
                                                                  "--face-area skin)", 0.5)
    m = vitiseg.load(model="classical", face_area="skin", normalise="none")
    with pytest.raises(ValueError, match="unknown body region 'tail'"):
        m.measure(rgb, region="tail")
    with pytest.raises(UsageError, match="photo not found"):
        m.measure(tmp_path / "nope.jpg")
    with pytest.raises(UsageError, match="model folder not found"):
        vitiseg.load(model=str(tmp_path / "no-model"))
