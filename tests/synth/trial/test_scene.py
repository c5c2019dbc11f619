"""One region scene of a synthetic cohort: the threshold is solved on the fraction within a domain only."""

from __future__ import annotations

import numpy as np

from vitiseg.synth import backgrounds as bgm
from vitiseg.synth.shapes import classes_from_alpha, follicle_map, make_layout
from vitiseg.synth.trial.scene import solve_threshold_in


def test_solve_threshold_in_counts_only_the_domain():
    rgb, skin = bgm.procedural_background("face", 160, np.random.default_rng(3))
    lay = make_layout(skin, np.random.default_rng(4), "noise", follicle_density=1.0)
    isl = follicle_map(lay, skin.shape)
    yy, xx = np.mgrid[0:160, 0:160]
    domain = (yy > 40) & (yy < 120) & (xx > 30) & (xx < 130)
    for target in (0.05, 0.4):
        _, alpha = solve_threshold_in(lay, skin, domain, target, isl, tol_px=2)
        cls = classes_from_alpha(alpha, skin)
        n = int((skin & domain).sum())
        got = int(((cls == 2) & domain).sum())
        assert abs(got - target * n) <= 2
        assert ((cls == 2) & ~domain).any()  # lesions are painted on all skin, not only in the domain


def test_solve_threshold_in_takes_a_target_above_one():
    # a plan may ask for more than the whole domain (seed 312 of the trial preset did): paint as much as possible
    rgb, skin = bgm.procedural_background("face", 160, np.random.default_rng(3))
    lay = make_layout(skin, np.random.default_rng(4), "noise", follicle_density=1.0)
    yy, xx = np.mgrid[0:160, 0:160]
    domain = (yy > 40) & (yy < 120) & (xx > 30) & (xx < 130)
    counts = []
    for target in (0.4, 1.3):
        _, alpha = solve_threshold_in(lay, skin, domain, target, None, tol_px=2)
        counts.append(int(((classes_from_alpha(alpha, skin) == 2) & domain).sum()))
    assert counts[1] > counts[0]
    assert counts[1] >= 0.99 * int((skin & domain).sum())
