"""Per-patch tracking: which baseline patches are followed, their share repigmented and pattern by the geometric
rule of :mod:`vitiseg.tracking.patches`."""

from __future__ import annotations

import numpy as np
import pytest

from vitiseg.config import TrackingConfig
from vitiseg.tracking.changes import REPIGMENTED, STABLE_DEPIGMENTED, STABLE_SKIN
from vitiseg.tracking.patches import baseline_patches, classify, patch_changes

CFG = TrackingConfig()


def test_patches_are_the_large_enough_components_numbered_by_area():
    cls = np.ones((100, 100), np.uint8)
    cls[10:20, 10:20] = 2  # 100 px
    cls[50:80, 50:70] = 2  # 600 px
    cls[5:8, 90:96] = 2  # 18 px: below min_patch_px
    cls[30:35, 30:35] = 2  # 25 px
    cls[35, 35] = 2  # 8-connected to the 25-px patch (diagonal) -> 26 px
    cfg = TrackingConfig(min_patch_px=20, min_patch_skin_pct=0.2)  # 0.2 % of 10000 = 20 px
    labels, patches = baseline_patches(cls, np.ones_like(cls, bool), cfg)
    assert [(p.patch_id, p.area_px) for p in patches] == [(1, 600), (2, 100), (3, 26)]
    assert patches[0].bbox == (50, 50, 70, 80) and patches[0].centroid == (59.5, 64.5)
    assert patches[0].pct_of_skin == pytest.approx(6.0)
    assert (labels == 1).sum() == 600 and labels[6, 92] == 0
    # the share of the skin is the other limit: 1 % of the skin is 100 px
    _, patches = baseline_patches(cls, np.ones_like(cls, bool), TrackingConfig(min_patch_px=1, min_patch_skin_pct=1))
    assert [p.area_px for p in patches] == [600, 100]
    # faces: only the domain (facial area) counts
    domain = np.zeros_like(cls, bool)
    domain[:50] = True
    _, patches = baseline_patches(cls, domain, cfg)
    assert [p.area_px for p in patches] == [100, 26]


def disc_patch(n: int = 81, r: float = 30.0) -> np.ndarray:
    yy, xx = np.mgrid[0:n, 0:n]
    return (yy - n // 2) ** 2 + (xx - n // 2) ** 2 <= r * r


def ring(patch: np.ndarray, width: int) -> np.ndarray:
    from scipy import ndimage

    return patch & ~ndimage.binary_erosion(patch, iterations=width)


def islands(patch: np.ndarray, centres: list[tuple[int, int]], r: float) -> np.ndarray:
    yy, xx = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    out = np.zeros_like(patch)
    for cy, cx in centres:
        out |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return out & patch


CENTRES = [(40, 40), (25, 30), (55, 50), (30, 55), (52, 25)]


@pytest.mark.parametrize("name, rep, pattern", [
    ("border advancing 6 px", lambda p: ring(p, 6), "marginal"),
    ("islands inside", lambda p: islands(p, CENTRES, 5), "perifollicular"),
    ("both", lambda p: ring(p, 4) | islands(p, CENTRES, 6), "mixed"),  # border_auc 0.71: inside 0.65-0.90
    ("a thin misalignment rim only", lambda p: ring(p, 1), "none"),
    ("almost all", lambda p: p & ~islands(p, [(40, 40)], 3), "complete"),
])
def test_pattern_rule(name, rep, pattern):
    patch = disc_patch()
    r = rep(patch)
    got = classify(patch, patch.copy(), r, CFG)
    assert got["pattern"] == pattern, (name, got)


def test_border_auc_is_one_for_a_marginal_front_and_low_for_islands():
    patch = disc_patch()
    assert classify(patch, patch.copy(), ring(patch, 8), CFG)["border_auc"] == pytest.approx(1.0, abs=0.005)
    assert classify(patch, patch.copy(), islands(patch, CENTRES, 6), CFG)["border_auc"] < 0.3


def test_pigment_islands_present_at_baseline_are_not_border():
    patch = disc_patch() & ~islands(disc_patch(), CENTRES, 3)  # holes: pigment kept around follicles at baseline
    grown = islands(patch, CENTRES, 7) & patch  # they grow: perifollicular repigmentation
    assert classify(patch, patch.copy(), grown, CFG)["pattern"] == "perifollicular"


def test_patch_rows_share_and_visibility():
    cls = np.ones((90, 90), np.uint8)
    patch = np.zeros((90, 90), bool)
    patch[5:86, 5:86] = disc_patch()
    cls[patch] = 2
    labels, patches = baseline_patches(cls, np.ones_like(patch), CFG)
    codes = np.where(patch, STABLE_DEPIGMENTED, STABLE_SKIN).astype(np.uint8)
    codes[ring(patch, 6)] = REPIGMENTED
    (row,) = patch_changes(labels, patches, codes, CFG)
    assert row["repigmented_share"] == pytest.approx(ring(patch, 6).sum() / patch.sum())
    assert row["visible_share"] == 1.0 and row["pattern"] == "marginal"
    codes[:, :50] = 0  # the follow-up shows less than half of the patch
    (row,) = patch_changes(labels, patches, codes, CFG)
    assert row["visible_share"] < 0.5 and row["pattern"] == "not visible"
