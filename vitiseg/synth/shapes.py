"""Lesion shapes: priority fields whose upper level sets are vitiligo-like lesions, and the depigmentation map.

A layout is a smooth ``(H, W) float32`` *priority field* (higher = depigments first) plus border, trichrome and
follicle settings. Thresholding the field at ``t`` gives the lesion core; lowering / raising ``t`` grows / shrinks
every lesion from its border, which is also how the cohort simulates repigmentation between visits.

:func:`depigmentation_alpha` turns a layout and a threshold into the per-pixel depigmentation intensity
``alpha`` in [0, 1]. **Ground-truth rule:** a skin pixel is class 2 (depigmented) iff ``alpha >= 0.5``; the map is
built so that this holds exactly for the core minus the perifollicular pigment islands, while blurred borders and the
trichrome (partially depigmented) band change the appearance without ever crossing 0.5 on the wrong side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

KINDS = ("noise", "blobs", "confetti", "periorificial", "acral", "segmental", "sheet")
KIND_WEIGHTS = (0.30, 0.25, 0.08, 0.10, 0.10, 0.07, 0.10)  # mixture used when no kind is asked for
#: drawn only when asked for (never by the default mixture, so default datasets are unchanged): ``residual`` = 5-40
#: small macules (radius 0.6-3 % of the side) with perifollicular pigment islands (:mod:`vitiseg.synth.hard`)
EXTRA_KINDS = ("residual",)


def smooth_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-SD smooth noise (H,W) float32 with feature size ~``scale`` px (bicubic-upsampled grid)."""
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / scale)) + 3), max(2, int(np.ceil(w / scale)) + 3)
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * scale), int(gh * scale)), interpolation=cv2.INTER_CUBIC)
    oy = int(rng.integers(0, max(1, big.shape[0] - h + 1)))
    ox = int(rng.integers(0, max(1, big.shape[1] - w + 1)))
    out = big[oy : oy + h, ox : ox + w]
    if out.shape != (h, w):
        out = cv2.resize(big, (w, h), interpolation=cv2.INTER_LINEAR)
    sd = float(out.std()) or 1.0
    return ((out - out.mean()) / sd).astype(np.float32)


def fractal_noise(shape: tuple[int, int], scale: float, rng: np.random.Generator, octaves: int = 4,
                  persistence: float = 0.5) -> np.ndarray:
    """Sum of ``octaves`` smooth-noise layers at ``scale, scale/2, ...`` px with amplitudes ``persistence**k``."""
    out = np.zeros(shape, np.float32)
    amp = 1.0
    for k in range(octaves):
        s = scale / (2**k)
        if s < 1.5:
            break
        out += amp * smooth_noise(shape, s, rng)
        amp *= persistence
    return out


def rank_normalise(f: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Map field values on skin to their rank in (0, 1] (uniform over skin pixels); off-skin pixels get -1."""
    out = np.full(f.shape, -1.0, np.float32)
    vals = f[skin]
    if vals.size:
        order = np.argsort(vals, kind="stable")
        ranks = np.empty(vals.size, np.float32)
        ranks[order] = (np.arange(vals.size, dtype=np.float32) + 1.0) / vals.size
        out[skin] = ranks
    return out


def _dist_to(mask_zero: np.ndarray) -> np.ndarray:
    """Euclidean distance (px, float32) of each pixel to the nearest pixel where ``mask_zero`` is True."""
    src = np.where(mask_zero, 0, 255).astype(np.uint8)
    return cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def _blob_field(skin: np.ndarray, rng: np.random.Generator, n: int, r_lo: float, r_hi: float) -> np.ndarray:
    """Union of ``n`` blobs (centres on skin, log-uniform radii, noisy outlines) as a continuous field.

    ``field = 0.25 * wobble + max(-1.5, max_k(1 - d_k / r_k))`` where ``d_k`` is the elliptical distance to blob k:
    > 0 inside a blob; beyond 2.5 radii every blob has fallen to the floor -1.5, so the field is continuous
    (no box artefacts) and, at very large fractions, grows along the smooth ``wobble`` noise.
    """
    h, w = skin.shape
    ys, xs = np.nonzero(skin)
    wobble = fractal_noise((h, w), max(4.0, r_hi / 2), rng, octaves=3)
    out = np.full((h, w), -1.5, np.float32)
    if len(ys) == 0:
        return out + 0.25 * wobble
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(n):
        k = int(rng.integers(len(ys)))
        cy, cx = float(ys[k]), float(xs[k])
        r = float(np.exp(rng.uniform(np.log(r_lo), np.log(r_hi))))
        ecc = float(rng.uniform(0.6, 1.0))
        th = float(rng.uniform(0, np.pi))
        reach = 2.5 * r / ecc + 1
        y0, y1 = int(max(0, cy - reach)), int(min(h, cy + reach + 1))
        x0, x1 = int(max(0, cx - reach)), int(min(w, cx + reach + 1))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        u = dx * np.cos(th) + dy * np.sin(th)
        v = (-dx * np.sin(th) + dy * np.cos(th)) / ecc
        val = 1.0 - np.sqrt(u * u + v * v) / r  # >= -1.5 only within 2.5 r (inside the window)
        np.maximum(out[y0:y1, x0:x1], val, out=out[y0:y1, x0:x1])
    return out + 0.25 * wobble


@dataclass
class Layout:
    """Everything that defines the lesions of one photo, independent of how much of it is depigmented.

    ``field`` (H,W) float32 rank-normalised on skin (values in (0,1], -1 off skin): the lesion core at threshold
    ``t`` is ``field > t``, so ``1 - t`` is the core's share of skin before islands are removed.
    """

    field: np.ndarray
    kind: str
    border_px: float  # width of the soft border (logistic scale, px); ~0.4 = sharp
    trichrome_px: float  # width of the partially depigmented band each side of the border; 0 = none
    trichrome_in: float  # alpha of the inner band (>= 0.5: counted as depigmented)
    trichrome_out: float  # alpha of the outer band (< 0.5: counted as healthy skin)
    follicle_yx: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))
    follicle_r: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    symmetric: bool = False

    def describe(self) -> dict:
        return {
            "kind": self.kind, "border_px": round(self.border_px, 3), "trichrome_px": round(self.trichrome_px, 3),
            "trichrome_in": round(self.trichrome_in, 3), "trichrome_out": round(self.trichrome_out, 3),
            "n_follicles": int(len(self.follicle_r)), "symmetric": self.symmetric,
        }


def make_layout(skin: np.ndarray, rng: np.random.Generator, kind: str | None = None,
                follicle_density: float | None = None) -> Layout:
    """Draw a lesion layout on ``skin`` ((H,W) bool). ``kind`` one of :data:`KINDS` or None (random mixture).

    ``follicle_density``: perifollicular pigment islands per 1000 skin px (None = random, often 0).
    """
    h, w = skin.shape
    n = max(h, w)
    if kind is None:
        kind = str(rng.choice(KINDS, p=KIND_WEIGHTS))
    holes = np.zeros_like(skin)
    if kind == "noise":
        f = fractal_noise((h, w), n * float(np.exp(rng.uniform(np.log(0.03), np.log(0.35)))), rng)
    elif kind == "blobs":
        k = int(rng.integers(1, 9))
        f = _blob_field(skin, rng, k, n * 0.01, n * 0.2)
    elif kind == "confetti":
        k = int(rng.integers(15, 120))
        f = _blob_field(skin, rng, k, n * 0.004, n * 0.02)
    elif kind == "periorificial":
        filled = _fill_holes(skin)
        holes = filled & ~skin
        if holes.sum() < 20:
            return make_layout(skin, rng, "blobs", follicle_density)
        f = -_dist_to(holes) / (0.05 * n) + 0.6 * fractal_noise((h, w), 0.08 * n, rng)
    elif kind == "acral":
        f = -_dist_to(~skin) / (0.04 * n) + 0.6 * fractal_noise((h, w), 0.08 * n, rng)
    elif kind == "segmental":
        th = rng.uniform(0, 2 * np.pi)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        grad = ((xx - w / 2) * np.cos(th) + (yy - h / 2) * np.sin(th)) / n
        f = 3.0 * grad + 0.5 * fractal_noise((h, w), 0.1 * n, rng)
    elif kind == "sheet":  # large confluent sheets with pigmented remnants
        f = fractal_noise((h, w), n * rng.uniform(0.2, 0.5), rng, octaves=5, persistence=0.6)
    elif kind == "residual":  # small residual macules of a repigmenting patient, islands around follicles
        f = _blob_field(skin, rng, int(rng.integers(5, 41)), n * 0.006, n * 0.03)
        follicle_density = float(rng.uniform(1.0, 3.0)) if follicle_density is None else follicle_density
    else:
        raise ValueError(f"unknown lesion kind {kind!r}; choose from {KINDS + EXTRA_KINDS}")
    symmetric = bool(kind in ("noise", "blobs", "periorificial", "confetti") and rng.random() < 0.3)
    if symmetric:
        ys, xs = np.nonzero(skin)
        if len(xs):
            cx = float(np.median(xs))
            mx = np.clip(np.round(2 * cx - np.arange(w)), 0, w - 1).astype(int)
            f = np.maximum(f, f[:, mx])
    field_ = rank_normalise(f, skin)

    border_px = float(rng.choice([rng.uniform(0.3, 0.8), rng.uniform(0.8, 3.5)], p=[0.6, 0.4])) * n / 384
    if rng.random() < 0.3:
        trichrome_px = float(rng.uniform(1.5, 6.0)) * n / 384
        tin, tout = float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.2, 0.45))
    else:
        trichrome_px, tin, tout = 0.0, 1.0, 0.0
    dens = follicle_density
    if dens is None:
        dens = float(rng.choice([0.0, rng.uniform(0.2, 3.0)], p=[0.55, 0.45]))
    fy, fr = _follicles(skin, rng, dens, n)
    return Layout(field_, kind, border_px, trichrome_px, tin, tout, fy, fr, symmetric)


def _follicles(skin: np.ndarray, rng: np.random.Generator, per_1000: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Candidate hair-follicle positions (K,2) float32 (y, x) on skin and island radii (K,) in px."""
    count = int(rng.poisson(per_1000 * skin.sum() / 1000.0)) if per_1000 > 0 else 0
    ys, xs = np.nonzero(skin)
    if count == 0 or len(ys) == 0:
        return np.zeros((0, 2), np.float32), np.zeros((0,), np.float32)
    idx = rng.integers(0, len(ys), count)
    yx = np.stack([ys[idx], xs[idx]], 1).astype(np.float32) + rng.uniform(-0.5, 0.5, (count, 2)).astype(np.float32)
    r = (rng.uniform(0.6, 2.2, count) * n / 384).astype(np.float32)
    return yx, r


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """Binary hole filling (holes = background components not touching the image border)."""
    from scipy.ndimage import binary_fill_holes

    return binary_fill_holes(mask)


def follicle_map(layout: Layout, shape: tuple[int, int], grow: float = 1.0) -> np.ndarray:
    """Pigment-island strength (H,W) float32 in [0,1]: Gaussian spots of radius ``r * grow`` at the follicles.

    ``grow`` > 1 enlarges the islands (perifollicular repigmentation between visits).
    """
    out = np.zeros(shape, np.float32)
    if len(layout.follicle_r) == 0:
        return out
    h, w = shape
    for (y, x), r in zip(layout.follicle_yx, layout.follicle_r * grow):
        rr = float(r)
        y0, y1 = int(max(0, y - 3 * rr - 1)), int(min(h, y + 3 * rr + 2))
        x0, x1 = int(max(0, x - 3 * rr - 1)), int(min(w, x + 3 * rr + 2))
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        g = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * (rr * 0.8) ** 2))
        np.maximum(out[y0:y1, x0:x1], g, out=out[y0:y1, x0:x1])
    return out


def depigmentation_alpha(layout: Layout, skin: np.ndarray, t: float, islands: np.ndarray | None = None) -> np.ndarray:
    """Depigmentation intensity (H,W) float32 in [0,1] for threshold ``t``; zero off skin.

    Core ``C = skin & (field > t)``. With ``s`` = distance-to-border - 0.5 px (positive inside C, negative outside),
    ``alpha = sigmoid(s / border_px)`` (> 0.5 exactly on C); the trichrome band pins alpha to ``trichrome_in`` (>= 0.5)
    inside and ``trichrome_out`` (< 0.5) outside within ``trichrome_px`` of the border; pigment islands multiply
    alpha by ``1 - islands``. Class 2 is ``alpha >= 0.5`` (see :func:`classes_from_alpha`).
    """
    core = skin & (layout.field > t)
    if not core.any():
        return np.zeros(skin.shape, np.float32)
    d_in = _dist_to(~core)  # >= 1 inside core
    d_out = _dist_to(core)  # >= 1 outside core
    s = np.where(core, d_in - 0.5, -(d_out - 0.5)).astype(np.float32)
    alpha = 1.0 / (1.0 + np.exp(np.clip(-s / max(layout.border_px, 1e-3), -30.0, 30.0)))
    if layout.trichrome_px > 0:
        band_in = core & (d_in <= layout.trichrome_px)
        band_out = ~core & (d_out <= layout.trichrome_px)
        alpha = np.where(band_in, np.minimum(alpha, layout.trichrome_in), alpha)
        # outer hypopigmented band: soft fall-off to 0 at its outer edge, always < 0.5
        fall = layout.trichrome_out * np.clip(1.5 - d_out / layout.trichrome_px, 0, 1)
        alpha = np.where(band_out, np.maximum(alpha, fall), alpha)
    if islands is not None:
        alpha = alpha * (1.0 - islands)
    alpha = np.where(skin, alpha, 0.0).astype(np.float32)
    return np.clip(alpha, 0.0, 1.0)


def classes_from_alpha(alpha: np.ndarray, skin: np.ndarray) -> np.ndarray:
    """Class mask (H,W) uint8: 0 off skin, 1 healthy skin, 2 where skin and ``alpha >= 0.5``."""
    cls = skin.astype(np.uint8)
    cls[skin & (alpha >= 0.5)] = 2
    return cls


def solve_threshold(layout: Layout, skin: np.ndarray, target: float, islands: np.ndarray | None = None,
                    tol_px: int = 0, max_iter: int = 30, domain: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """Threshold ``t`` whose class-2 share of skin is closest to ``target`` (bisection; fraction is monotone in t).

    Returns ``(t, alpha)``. ``target`` 0 gives no lesion (t = 1). Stops when within ``tol_px`` pixels.
    With ``domain`` ((H, W) bool, e.g. the facial area) lesions are still painted on all of ``skin`` but the share
    that must hit ``target`` is counted within ``skin & domain``; the first guess is then the field's quantile there.
    """
    dom = skin if domain is None else skin & domain
    n = int(dom.sum())
    if target <= 0 or n == 0:
        return 1.0, np.zeros(skin.shape, np.float32)
    want = target * n
    if domain is None:
        t = 1.0 - target
    else:
        vals = layout.field[dom]
        # a target above 1 (all of the domain, and more) starts from the field's minimum, not an invalid quantile
        t = float(np.quantile(vals, min(max(1.0 - target, 0.0), 1.0))) if vals.size else 1.0 - target
    lo, hi = 0.0, 1.0  # the count decreases with t
    best: tuple[float, float, np.ndarray | None] = (np.inf, 1.0, None)
    for _ in range(max_iter):
        alpha = depigmentation_alpha(layout, skin, t, islands)
        got = int((dom & (alpha >= 0.5)).sum())
        err = abs(got - want)
        if err < best[0]:
            best = (err, t, alpha)
        if err <= tol_px:
            break
        if got > want:
            lo = t
        else:
            hi = t
        t = 0.5 * (lo + hi)
        if hi - lo < 1e-7:
            break
    _, t_best, a_best = best
    return t_best, a_best
