"""Repigmentation patterns of a synthetic cohort (``vitiseg synth cohort --repigmentation patterns``): each baseline
lesion repigments from its margin, from follicle-like islands (perifollicular), or both, with its true pattern
written to the truth.

Lesions are the 8-connected components of the baseline truth mask (class 2), numbered as
``scipy.ndimage.label(mask == 2, structure=np.ones((3, 3)))`` numbers them (raster order of their first pixel); the
truth tables use these ids. Each lesion draws a pattern (:data:`PATTERNS`, weights :data:`PATTERN_WEIGHTS`) and a
speed ``v ~ exp(N(0, 0.25))``, and each of its pixels a *repigmentation time* ``tau`` in [0, 1] / v:

* ``marginal``: ``tau = d / max d``, with ``d`` the distance to the lesion's outer border (holes filled, px) times
  a smooth ``exp(0.2 * noise)`` wobble, so the border advances inwards with an irregular front.
* ``perifollicular``: ``tau = e / max e``, with ``e`` the distance to the nearest of ``max(1, round(area / A))`` seed
  points drawn uniformly inside the lesion (``A = 150 px`` at a 384-px long side, scaled with the area) or to a
  pigment island already inside it at baseline, so discs of new pigment grow around follicles and the lesion keeps
  its outline until they merge.
* ``mixed``: ``tau = min(1.5 * marginal, perifollicular)``: both at once, the border advancing at two thirds of its
  ``marginal`` speed so that the islands show.

A visit at progress ``s`` keeps as depigmented exactly the baseline-lesion pixels with ``tau > s`` (so follow-up
lesions lie inside the baseline ones); ``s`` is bisected until the visit's planned fraction is met within the render
tolerance, counted in the (moved) follow-up photo. A visit whose planned fraction is not below the baseline's cannot
repigment: it is rendered by the default threshold rule (lesions grow from their borders).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from vitiseg.synth.shapes import Layout, depigmentation_alpha, smooth_noise

from .motion import warp_mask

PATTERNS = ("marginal", "perifollicular", "mixed")
PATTERN_WEIGHTS = (0.4, 0.4, 0.2)
SEED_AREA_384 = 150.0  # px per island seed at a 384-px long side
MIXED_MARGIN_DELAY = 1.5


@dataclass
class LesionPlan:
    """Baseline lesions of one region photo and when each pixel repigments (scene = baseline frame).

    ``labels`` (H,W) int32 lesion ids (0 = none); ``patterns[k - 1]`` the pattern of lesion ``k``; ``tau`` (H,W)
    float32 repigmentation time of each baseline-lesion pixel (-1 elsewhere).
    """

    labels: np.ndarray
    patterns: list[str]
    tau: np.ndarray

    def core(self, s: float) -> np.ndarray:
        """(H,W) bool: baseline-lesion pixels still depigmented at progress ``s`` >= 0."""
        return self.tau > s


def lesion_labels(cls: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components of class 2 of a class mask: ``(labels (H,W) int32, count)``."""
    lab, n = ndimage.label(cls == 2, structure=np.ones((3, 3), bool))
    return lab.astype(np.int32), int(n)


def _normalised(d: np.ndarray, m: np.ndarray) -> np.ndarray:
    top = float(d[m].max()) if m.any() else 1.0
    return d / max(top, 1e-6)


def plan_lesions(base_cls: np.ndarray, rng: np.random.Generator) -> LesionPlan:
    """Patterns and repigmentation times of the lesions of a baseline class mask ``(H,W) uint8`` (module docstring)."""
    labels, n = lesion_labels(base_cls)
    tau = np.full(labels.shape, -1.0, np.float32)
    seed_area = SEED_AREA_384 * (max(labels.shape) / 384.0) ** 2
    patterns: list[str] = []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        y0, y1 = max(0, sl[0].start - 1), min(labels.shape[0], sl[0].stop + 1)
        x0, x1 = max(0, sl[1].start - 1), min(labels.shape[1], sl[1].stop + 1)
        m = labels[y0:y1, x0:x1] == k
        pattern = str(PATTERNS[int(rng.choice(len(PATTERNS), p=PATTERN_WEIGHTS))])
        speed = float(np.exp(rng.normal(0.0, 0.25)))
        filled = ndimage.binary_fill_holes(m)
        d = ndimage.distance_transform_edt(np.pad(filled, 1))[1:-1, 1:-1]  # exact: the same in every process
        wobble = smooth_noise(m.shape, max(4.0, float(d.max())), rng)
        t_margin = _normalised(d * np.exp(0.2 * wobble), m)
        ys, xs = np.nonzero(m)
        k_seeds = max(1, int(round(len(ys) / seed_area)))
        pick = rng.choice(len(ys), size=min(k_seeds, len(ys)), replace=False)
        seeds = np.where(filled & ~m, 0, 1).astype(np.uint8)  # pigment islands already there grow as well
        seeds[ys[pick], xs[pick]] = 0
        e = ndimage.distance_transform_edt(seeds)
        t_islands = _normalised(e, m)
        t = {"marginal": t_margin, "perifollicular": t_islands,
             "mixed": np.minimum(MIXED_MARGIN_DELAY * t_margin, t_islands)}[pattern]
        t = t / speed + rng.uniform(0.0, 1e-4, m.shape)  # ties broken so that any fraction can be met
        tau[y0:y1, x0:x1][m] = t[m].astype(np.float32)
        patterns.append(pattern)
    return LesionPlan(labels, patterns, tau)


def solve_progress(plan: LesionPlan, H: np.ndarray | None, skin: np.ndarray, domain: np.ndarray | None,
                   target: float, tol_px: int, max_iter: int = 60) -> tuple[float, np.ndarray] | None:
    """Progress ``s`` whose depigmented share of ``skin & domain`` in the photo is closest to ``target``.

    ``H``: the baseline -> photo homography (None: the photo is the baseline frame); ``skin`` / ``domain`` (H,W) bool
    in the photo. Returns ``(s, core)`` with ``core`` the photo's depigmented pixels (H,W) bool, or None when even
    ``s = 0`` (every baseline lesion kept) is below the target: the visit must be rendered by the threshold rule.
    """
    dom = skin if domain is None else skin & domain
    want = target * int(dom.sum())

    def core_at(s: float) -> np.ndarray:
        c = plan.core(s)
        return (warp_mask(H, c) if H is not None else c) & skin

    if int((core_at(0.0) & dom).sum()) < want - tol_px:
        return None
    lo, hi = 0.0, float(plan.tau.max()) + 1e-6  # the count decreases with s
    best: tuple[float, float, np.ndarray | None] = (np.inf, 0.0, None)
    s = 0.5 * (lo + hi)
    for _ in range(max_iter):
        c = core_at(s)
        got = int((c & dom).sum())
        err = abs(got - want)
        if err < best[0]:
            best = (err, s, c)
        if err <= tol_px:
            break
        if got > want:
            lo = s
        else:
            hi = s
        s = 0.5 * (lo + hi)
    return best[1], best[2]


def alpha_of_core(core: np.ndarray, skin: np.ndarray, layout: Layout) -> np.ndarray:
    """Depigmentation map (H,W) float32 of a given lesion core, with the layout's border and trichrome settings:
    class 2 (``alpha >= 0.5``) is exactly ``core & skin`` (see :func:`vitiseg.synth.shapes.depigmentation_alpha`)."""
    lay = Layout(core.astype(np.float32), layout.kind, layout.border_px, layout.trichrome_px, layout.trichrome_in,
                 layout.trichrome_out)
    return depigmentation_alpha(lay, skin, 0.5, None)
