"""Hard lesion plans for the synthetic generator (issue 20): extensive and faint residual depigmentation.

The shipped model failed on two kinds of real photos: (1) depigmentation covering most of the visible skin, on dark
skin especially (the classes invert: healthy dark skin called background, the depigmented skin called healthy), and
(2) small, faint, perifollicular residual macules of near-complete responders (missed: F-VASI90 over-called).
``vitiseg synth dataset --extensive P --residual Q`` draws, per sample, one :class:`HardPlan`:

- ``extensive`` (probability P): target depigmented share U(0.50, 0.97) of the skin, a confluent pattern
  (``sheet`` / ``noise`` / ``blobs`` / ``acral`` / ``segmental``, weights 0.35 / 0.25 / 0.15 / 0.15 / 0.10); with
  ``--tone-balance`` the background is then re-toned to the two darkest ITA bins with probability
  :data:`EXTENSIVE_DARK_BIAS` (the inversion failure is a dark-skin failure);
- ``residual`` (probability Q): the ``residual`` layout of :mod:`vitiseg.synth.shapes` (5-40 small macules with pigment
  islands around follicles), target share log-uniform 0.3-5 %, painted *faint*: lightness gain x U(0.5, 0.9)
  (``render_sample(dl_scale=...)``, floored at :data:`vitiseg.synth.render.FAINT_DL_MIN`);
- ``standard`` otherwise: the generator's own draws (:func:`vitiseg.synth.render.sample_target_fraction`, kind mixture).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EXTENSIVE_KINDS = ("sheet", "noise", "blobs", "acral", "segmental")
EXTENSIVE_WEIGHTS = (0.35, 0.25, 0.15, 0.15, 0.10)
EXTENSIVE_RANGE = (0.50, 0.97)
RESIDUAL_RANGE = (0.003, 0.05)
FAINT_SCALE = (0.5, 0.9)
EXTENSIVE_DARK_BIAS = 0.5


@dataclass(frozen=True)
class HardPlan:
    """What to render: ``label`` in {standard, extensive, residual}; ``None`` fields = the generator's own draws."""

    label: str
    target_fraction: float | None = None
    kind: str | None = None
    dl_scale: float = 1.0


def sample_plan(rng: np.random.Generator, p_extensive: float, p_residual: float) -> HardPlan:
    """One sample's plan (see module doc). Draws one random number for the choice, then three for a hard plan."""
    if p_extensive < 0 or p_residual < 0 or p_extensive + p_residual > 1:
        raise ValueError(f"need p_extensive, p_residual >= 0 with sum <= 1, got {p_extensive}, {p_residual}")
    u = rng.random()
    if u < p_extensive:
        frac = float(rng.uniform(*EXTENSIVE_RANGE))
        kind = str(rng.choice(EXTENSIVE_KINDS, p=EXTENSIVE_WEIGHTS))
        rng.random()  # keep three draws per hard plan
        return HardPlan("extensive", frac, kind, 1.0)
    if u < p_extensive + p_residual:
        lo, hi = RESIDUAL_RANGE
        frac = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        rng.random()
        scale = float(rng.uniform(*FAINT_SCALE))
        return HardPlan("residual", frac, "residual", scale)
    return HardPlan("standard")
