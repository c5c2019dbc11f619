"""The overlay a person checks: exact colours of depigmented, healthy and background pixels, outlines, size."""

from __future__ import annotations

import numpy as np

from vitiseg.pipeline.overlay import FACE_RGB, make_overlay


def test_overlay_colours_outline_and_facial_area() -> None:
    rgb = np.full((60, 80, 3), 100, np.uint8)
    cls = np.zeros((60, 80), np.uint8)
    cls[10:50, 10:70] = 1
    cls[20:40, 20:40] = 2
    face = np.zeros((60, 80), bool)
    face[5:55, 50:78] = True
    out = make_overlay(rgb, cls, face, 1600)
    assert out.shape == (60, 80, 3) and out.dtype == np.uint8
    assert out[2, 2].tolist() == [55, 55, 55]  # background dimmed to 55 %
    assert out[45, 15].tolist() == [100, 100, 100]  # healthy skin as taken
    assert out[30, 30].tolist() == [169, 55, 169]  # depigmented: 0.55 * 100 + 0.45 * magenta
    assert out[20, 30].tolist() == [255, 0, 255]  # its outline
    assert out[5, 60].tolist() == list(FACE_RGB)  # the facial area's outline
    assert (make_overlay(rgb, cls, None, 1600)[5, 60] == 55).all()  # no facial area, no outline


def test_overlay_is_shrunk_to_its_long_side_with_the_classes() -> None:
    rgb = np.full((600, 800, 3), 100, np.uint8)
    cls = np.ones((60, 80), np.uint8)  # classes at another resolution are resized nearest-neighbour
    cls[:, 40:] = 0
    out = make_overlay(rgb, cls, None, 200)
    assert out.shape == (150, 200, 3)
    assert out[75, 50].tolist() == [100, 100, 100] and out[75, 150].tolist() == [55, 55, 55]
