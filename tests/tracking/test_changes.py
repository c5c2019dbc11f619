"""Change maps of an aligned pair: codes, areas and the overlay a person reads."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from vitiseg.tracking.changes import (CHANGE_RGB, NEW_DEPIGMENTED, REPIGMENTED, change_areas, change_codes,
                                      change_overlay)


def test_codes_and_areas_of_a_small_pair():
    base = np.array([[0, 1, 1, 2, 2, 2],
                     [0, 1, 1, 2, 2, 2]], np.uint8)
    fu = np.array([[1, 2, 1, 1, 2, 2],
                   [1, 1, 0, 1, 1, 2]], np.uint8)
    compared = np.ones_like(base, bool)
    compared[1, 5] = False  # not in the follow-up's view
    codes = change_codes(base, fu, compared)
    assert codes.tolist() == [[0, 4, 1, 3, 2, 2],
                              [0, 1, 0, 3, 3, 0]]
    a = change_areas(codes)
    assert (a["compared_skin_px"], a["baseline_depigmented_px"], a["repigmented_px"], a["new_depigmented_px"],
            a["stable_depigmented_px"], a["stable_skin_px"]) == (8, 5, 3, 1, 2, 2)
    assert a["repigmented_pct_of_baseline"] == 60.0 and a["new_pct_of_baseline"] == 20.0
    assert a["repigmented_pct_of_skin"] == 37.5 and a["new_pct_of_skin"] == 12.5


def test_areas_of_a_map_without_depigmentation_are_undefined_not_zero():
    a = change_areas(np.ones((3, 3), np.uint8))
    assert math.isnan(a["repigmented_pct_of_baseline"]) and a["repigmented_pct_of_skin"] == 0.0


@given(arrays(np.uint8, (6, 7), elements=st.integers(0, 2)), arrays(np.uint8, (6, 7), elements=st.integers(0, 2)),
       arrays(bool, (6, 7)))
def test_codes_partition_the_compared_skin(base, fu, compared):
    codes = change_codes(base, fu, compared)
    a = change_areas(codes)
    both = compared & (base > 0) & (fu > 0)
    assert a["compared_skin_px"] == both.sum()
    assert a["baseline_depigmented_px"] == (both & (base == 2)).sum()
    assert a["repigmented_px"] + a["new_depigmented_px"] + a["stable_depigmented_px"] + a["stable_skin_px"] \
        == both.sum()
    assert (codes[~both] == 0).all()


def test_overlay_paints_the_changes_and_adds_a_legend_below():
    rgb = np.full((60, 80, 3), 120, np.uint8)
    codes = np.ones((60, 80), np.uint8)
    codes[10:30, 10:30] = REPIGMENTED
    codes[40:55, 50:70] = NEW_DEPIGMENTED
    codes[:, 75:] = 0
    out = change_overlay(rgb, codes, 1024)
    assert out.shape[1] == 80 and out.shape[0] > 60  # legend strip under the photo
    img = out[:60].astype(int)
    green, red = CHANGE_RGB[REPIGMENTED], CHANGE_RGB[NEW_DEPIGMENTED]
    assert np.abs(img[20, 20] - (0.45 * 120 + 0.55 * np.array(green))).max() <= 1
    assert np.abs(img[47, 60] - (0.45 * 120 + 0.55 * np.array(red))).max() <= 1
    assert (img[5, 5] == 120).all()  # stable skin as photographed
    assert img[5, 78].max() < 60  # not compared: dimmed
