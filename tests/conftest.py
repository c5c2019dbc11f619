"""Shared fixtures: small generated photos with exact ground truth, and a generated visits folder."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import pytest
from PIL import Image

BG = (40, 70, 160)      # blue-grey backdrop
SKIN = (196, 142, 112)  # medium skin tone
DEPIG = (246, 232, 226)  # milky-white patch
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def key_photo(h: int, w: int, skin_box: tuple[int, int, int, int], depig_boxes: list[tuple[int, int, int, int]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """A colour-keyed photo and its exact class mask: boxes are (y0, y1, x0, x1), depigmented boxes inside skin."""
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = BG
    cls = np.zeros((h, w), np.uint8)
    y0, y1, x0, x1 = skin_box
    rgb[y0:y1, x0:x1] = SKIN
    cls[y0:y1, x0:x1] = 1
    for y0, y1, x0, x1 in depig_boxes:
        rgb[y0:y1, x0:x1] = DEPIG
        cls[y0:y1, x0:x1] = 2
    return rgb, cls


class KeySegmenter:
    """Test double of the Segmenter contract: classifies pixels by the nearest key colour (exact on key photos)."""

    identity = {"name": "key", "kind": "test", "sha256": "0" * 64}

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        cols = np.array([BG, SKIN, DEPIG], np.int32)
        d = ((rgb[:, :, None, :].astype(np.int32) - cols[None, None]) ** 2).sum(-1)
        return d.argmin(-1).astype(np.uint8)


def save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


# Exact design of the generated visits folder: (patient, visit) -> region -> (skin box, depigmented boxes)
# Photos are 100 x 120 px; skin box 80 x 100 = 8000 px.
SKIN_BOX = (10, 90, 10, 110)
VISITS_DESIGN = {
    ("P01", "v1"): {"face": [(10, 50, 10, 110)], "hands": [(10, 30, 10, 110)], "trunk": [(10, 90, 10, 30)]},
    ("P01", "v2"): {"face": [(10, 20, 10, 110)], "hands": [(10, 20, 10, 70)], "trunk": [(10, 90, 10, 20)]},
    ("P02", "v1"): {"face": [(10, 90, 10, 110)], "hands": []},
    ("P02", "v2"): {"face": [(10, 90, 10, 50)], "hands": []},
}


@pytest.fixture
def visits_dir(tmp_path: Path) -> Path:
    """A small visits folder of colour-keyed PNG photos following the folder convention (PNG = lossless)."""
    root = tmp_path / "visits"
    for (pid, vid), regions in VISITS_DESIGN.items():
        for region, boxes in regions.items():
            rgb, _ = key_photo(100, 120, SKIN_BOX, boxes)
            save(root / pid / vid / f"{region}.png", rgb)
    (root / "visits.csv").write_text(
        "patient_id,visit_id,date,dlqi\nP01,v1,2026-01-05,12\nP01,v2,2026-04-01,5\n"
        "P02,v1,2026-01-07,20\nP02,v2,2026-04-02,18\n")
    return root
