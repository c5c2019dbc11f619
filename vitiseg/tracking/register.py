"""Alignment of a follow-up photo to the baseline photo of the same patient, region and view.

The result is a *map*: for every baseline pixel, where the same skin point lies in the follow-up photo (x, y in
follow-up pixels). Warping a follow-up mask through it puts the follow-up in the baseline frame.

* **Starting estimates**, most trusted first. Faces (both photos with FaceMesh landmarks,
  :func:`vitiseg.face.detect_faces`): the homography of the 478 landmark pairs (RANSAC). Every region: SIFT (or
  ORB) features of both photos within their skin masks dilated by ``SKIN_MARGIN`` of the long side (the skin outline
  is the strongest stable structure; the background does not drive the fit), ratio-test matches, a homography by
  MAGSAC (``USAC_MAGSAC``) with at least ``min_inliers`` agreeing matches. With refinement, more starts that are
  only used refined: the matches when fewer than ``min_inliers`` agree (smooth skin, small photos), and the
  similarity that lays the follow-up skin mask's centroid, area and main axis on the baseline's (with and without
  the axis rotation).
* **Refinement.** Each start is refined by ECC (``cv2.findTransformECC``, homography model, coarse to fine at long
  sides ``ECC_LEVELS``: the coarse levels converge from further away) on high-passed grey images (minus a Gaussian
  blur of ``ECC_SIGMA`` px at each level: lighting, white balance and vignetting differ between visits) over the
  baseline's dilated skin; a refinement that moves a corner of the skin's box by more than ``ECC_MAX_SHIFT`` of the
  long side is discarded as diverged. The transform with the highest ECC correlation wins (so a refinement that
  makes things worse is not taken), except that one within ``SAME_SOLUTION_PX`` of an earlier start's is the same
  solution and keeps the earlier start's name in ``method``.
* **Faces, ``face_warp: piecewise_affine``**: inside the hull of the baseline landmarks, the piecewise-affine warp of
  their Delaunay triangles (it follows expression and pose changes that no homography fits, but carries the
  landmarks' own jitter), the chosen homography outside. The default ``homography`` uses the refined homography
  everywhere (``research/2026-12-01-tracking`` has both measured).

Quality of every alignment: ``coverage`` = share of the baseline skin that the follow-up photo shows;
``skin_overlap`` = intersection over union of the baseline skin and the warped follow-up skin where both are in
view; ``correlation`` (ECC correlation of the high-passed photos, -1..1); ``inliers`` (feature matches or
landmarks consistent with the starting homography); ``residual_px`` (faces: median landmark distance after the
chosen homography). Below a threshold of :class:`vitiseg.config.TrackingConfig` the pair is ``not_aligned``, with the reason, and is never compared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..config import TrackingConfig

SKIN_MARGIN = 0.03
ECC_SIGMA = 4.0  # px at each pyramid level: the high-pass that ECC compares
ECC_MAX_SHIFT = 0.15
ECC_LEVELS = (128, 256, 512, 1024)  # long sides of the coarse-to-fine ECC passes (capped at the photo's own size)
SAME_SOLUTION_PX = 0.25  # refinements this close at the skin box's corners are one solution


@dataclass
class PhotoView:
    """One photo as the tracker sees it: ``rgb`` (H,W,3) uint8 sRGB at the working size, ``classes`` (H,W) uint8
    {0, 1, 2} (its mask), ``landmarks`` (478, 2) float32 pixel (x, y) for a face, or None."""

    rgb: np.ndarray
    classes: np.ndarray
    landmarks: np.ndarray | None = None

    @property
    def skin(self) -> np.ndarray:
        return self.classes > 0


@dataclass
class Alignment:
    """``status`` "aligned" or "not_aligned" (``reason`` says why); ``grid`` (H,W,2) float32: the follow-up
    position (x, y) of every baseline pixel; ``homography`` (3,3) float64 baseline -> follow-up (the global model);
    ``quality``: coverage, skin_overlap, correlation, inliers, residual_px (NaN where not applicable)."""

    status: str
    reason: str
    method: str
    grid: np.ndarray | None
    homography: np.ndarray | None
    quality: dict[str, float] = field(default_factory=dict)


def homography_grid(H: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h,w,2) float32: ``H`` applied to every pixel (x, y) of an image of ``shape`` (h, w)."""
    h, w = shape
    xy = np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)), -1)
    return cv2.perspectiveTransform(xy.reshape(-1, 1, 2), H.astype(np.float64)).reshape(h, w, 2).astype(np.float32)


def piecewise_affine_grid(src: np.ndarray, dst: np.ndarray, shape: tuple[int, int], outside: np.ndarray
                          ) -> np.ndarray:
    """(h,w,2) float32 map that takes each Delaunay triangle of ``src`` (N,2) affinely onto the same triangle of
    ``dst`` (N,2) (barycentric coordinates); pixels outside the triangles take ``outside`` (h,w,2)."""
    tri = Delaunay(src)
    ids = np.zeros(shape, np.int32)
    for k, simplex in enumerate(tri.simplices):  # rasterise the triangle ids (faster than point location per pixel)
        cv2.fillConvexPoly(ids, np.round(src[simplex] * 16).astype(np.int32), k + 1, cv2.LINE_8, 4)
    ys, xs = np.nonzero(ids)
    s = ids[ys, xs] - 1
    p = np.stack([xs, ys], 1).astype(np.float64)
    T = tri.transform[s]
    b = np.einsum("nij,nj->ni", T[:, :2], p - T[:, 2])
    bary = np.concatenate([b, 1.0 - b.sum(1, keepdims=True)], 1)
    grid = outside.copy()
    grid[ys, xs] = np.einsum("nk,nkd->nd", bary, dst[tri.simplices[s]]).astype(np.float32)
    return grid


def warp_to_baseline(mask: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A follow-up mask (h',w') uint8 in the baseline frame (nearest neighbour) and the (h,w) bool of baseline pixels
    that the follow-up photo shows."""
    h, w = mask.shape
    gx, gy = grid[..., 0], grid[..., 1]
    valid = (gx >= -0.5) & (gx <= w - 0.5) & (gy >= -0.5) & (gy <= h - 0.5)
    out = cv2.remap(mask, gx, gy, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out, valid


def _grey(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _feature_mask(skin: np.ndarray) -> np.ndarray:
    r = max(1, int(round(SKIN_MARGIN * max(skin.shape))))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(skin.astype(np.uint8) * 255, k)


def feature_homography(base: PhotoView, fu: PhotoView, cfg: TrackingConfig) -> tuple[np.ndarray | None, int, str]:
    """``(H, inliers, problem)``: baseline -> follow-up homography from matched features (module docstring)."""
    if cfg.features == "sift":
        det, norm = cv2.SIFT_create(nfeatures=cfg.max_features), cv2.NORM_L2
    else:
        det, norm = cv2.ORB_create(nfeatures=cfg.max_features), cv2.NORM_HAMMING
    kb, db = det.detectAndCompute(_grey(base.rgb), _feature_mask(base.skin))
    kf, df = det.detectAndCompute(_grey(fu.rgb), _feature_mask(fu.skin))
    if db is None or df is None or len(kb) < 4 or len(kf) < 4:
        return None, 0, "too few features on the skin"
    pairs = cv2.BFMatcher(norm).knnMatch(db, df, k=2)
    good = [m[0] for m in pairs if len(m) == 2 and m[0].distance < cfg.ratio_test * m[1].distance]
    if len(good) < 4:
        return None, len(good), f"only {len(good)} feature matches"
    pb = np.float32([kb[m.queryIdx].pt for m in good])
    pf = np.float32([kf[m.trainIdx].pt for m in good])
    scale = max(base.skin.shape) / 1024
    H, inl = cv2.findHomography(pb, pf, cv2.USAC_MAGSAC, cfg.ransac_px * max(scale, 0.5), maxIters=10000,
                                confidence=0.999)
    if H is None:
        return None, 0, f"no consistent homography among {len(good)} matches"
    return H, int(inl.sum()), ""


def _scaled(H: np.ndarray, sb: float, sf: float) -> np.ndarray:
    """``H`` expressed between images scaled by ``sb`` (baseline) and ``sf`` (follow-up)."""
    return np.diag([sf, sf, 1.0]) @ H @ np.diag([1 / sb, 1 / sb, 1.0])


def _highpass(grey: np.ndarray, sigma: float) -> np.ndarray:
    """Grey image (float32) minus its Gaussian blur: texture and edges without the lighting and vignetting."""
    return grey - cv2.GaussianBlur(grey, (0, 0), sigma)


def _resized(img: np.ndarray, s: float, interp: int = cv2.INTER_AREA) -> np.ndarray:
    return cv2.resize(img, None, fx=s, fy=s, interpolation=interp) if s < 1 else img


class EccImages:
    """The pair that ECC compares (module docstring): grey photos high-passed at each pyramid level (``ECC_SIGMA``
    px at that level, so the coarse levels see coarse structure and converge from further away), and the baseline's
    dilated skin as the mask."""

    def __init__(self, base: PhotoView, fu: PhotoView) -> None:
        self.base = _grey(base.rgb).astype(np.float32)
        self.fu = _grey(fu.rgb).astype(np.float32)
        self.mask = _feature_mask(base.skin)

    def score(self, H: np.ndarray) -> float:
        """ECC correlation (-1..1) of the baseline and the follow-up warped by ``H`` over the mask, at the finest
        level."""
        sb = min(1.0, ECC_LEVELS[-1] / max(self.base.shape))
        sf = min(1.0, ECC_LEVELS[-1] / max(self.fu.shape))
        tb, tf = _highpass(_resized(self.base, sb), ECC_SIGMA), _highpass(_resized(self.fu, sf), ECC_SIGMA)
        h, w = tb.shape
        Hs = _scaled(H, sb, sf)
        warped = cv2.warpPerspective(tf, Hs, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        inside = cv2.warpPerspective(np.ones(tf.shape, np.uint8), Hs, (w, h),
                                     flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
        m = (_resized(self.mask, sb, cv2.INTER_NEAREST) > 0) & (inside > 0)
        if m.sum() < 100:
            return -1.0
        return float(cv2.computeECC(tb, warped, m.astype(np.uint8)))

    def refine(self, H0: np.ndarray, iterations: int) -> np.ndarray | None:
        """``H0`` refined by ECC, coarse to fine (:data:`ECC_LEVELS`); None when ECC fails or diverges."""
        H = H0.copy()
        crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-6)
        done = set()
        for level in ECC_LEVELS:
            sb = min(1.0, level / max(self.base.shape))
            if sb in done:
                continue
            done.add(sb)
            sf = min(1.0, level / max(self.fu.shape))
            tb, tf = _highpass(_resized(self.base, sb), ECC_SIGMA), _highpass(_resized(self.fu, sf), ECC_SIGMA)
            mb = _resized(self.mask, sb, cv2.INTER_NEAREST)
            warp = _scaled(H, sb, sf).astype(np.float32)
            try:
                _, warp = cv2.findTransformECC(tb, tf, warp, cv2.MOTION_HOMOGRAPHY, crit, mb, 5)
            except cv2.error:
                return None
            H = _scaled(warp.astype(np.float64), 1 / sb, 1 / sf)
        return H if self.moved(H, H0) <= ECC_MAX_SHIFT * max(self.base.shape) else None

    def moved(self, H1: np.ndarray, H2: np.ndarray) -> float:
        """Largest distance (px) between where ``H1`` and ``H2`` put the corners of the skin's box."""
        ys, xs = np.nonzero(self.mask)
        box = np.float64([[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.max(), ys.max()], [xs.min(), ys.max()]])
        return float(np.linalg.norm(_apply(H1, box) - _apply(H2, box), axis=1).max())


def _apply(H: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(xy, np.float64).reshape(-1, 1, 2), H).reshape(-1, 2)


def _plausible(H: np.ndarray, shape: tuple[int, int]) -> str:
    """Empty, or why ``H`` cannot be a re-take of the same region (folded, or area changed more than 4-fold)."""
    h, w = shape
    c = _apply(H, [[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]]).astype(np.float32)
    if not cv2.isContourConvex(c):
        return "the fitted transform folds the image"
    ratio = cv2.contourArea(c) / float((w - 1) * (h - 1))
    if not 0.25 <= ratio <= 4.0:
        return f"the fitted transform changes the image area {ratio:.2f}-fold"
    return ""


def landmark_homography(base: PhotoView, fu: PhotoView) -> tuple[np.ndarray, int]:
    """``(H, inliers)``: the baseline -> follow-up homography of the landmark pairs (RANSAC at 3 % of the eye
    distance)."""
    lb, lf = base.landmarks.astype(np.float64), fu.landmarks.astype(np.float64)
    H, inl = cv2.findHomography(lb, lf, cv2.RANSAC, max(1.0, 0.03 * _eye_distance(base.landmarks)))
    if H is None:
        return cv2.findHomography(lb, lf, 0)[0], len(lb)
    return H, int(inl.sum())


def skin_shape_starts(base: np.ndarray, fu: np.ndarray) -> list[np.ndarray]:
    """Similarity transforms (3,3) that put the follow-up skin mask's centroid, area and (when the mask is elongated
    enough to have one) main axis on the baseline's: starting points for ECC when features are too few. Two starts:
    with the axes' rotation and without it."""
    mb, mf = cv2.moments(base.astype(np.uint8), True), cv2.moments(fu.astype(np.uint8), True)
    if mb["m00"] == 0 or mf["m00"] == 0:
        return []

    def axis(m: dict) -> tuple[float, float]:
        a, b, c = m["mu20"], m["mu02"], m["mu11"]
        return 0.5 * np.arctan2(2 * c, a - b), np.hypot(a - b, 2 * c) / max(a + b, 1e-9)

    (tb, eb), (tf, ef) = axis(mb), axis(mf)
    rot = (tf - tb + np.pi / 2) % np.pi - np.pi / 2  # axes are lines: rotations modulo 180 deg
    scale = float(np.sqrt(mf["m00"] / mb["m00"]))
    cb = np.array([mb["m10"], mb["m01"]]) / mb["m00"]
    cf = np.array([mf["m10"], mf["m01"]]) / mf["m00"]
    starts = []
    for r in ((rot, 0.0) if min(eb, ef) > 0.1 else (0.0,)):
        R = scale * np.array([[np.cos(r), -np.sin(r)], [np.sin(r), np.cos(r)]])
        H = np.eye(3)
        H[:2, :2], H[:2, 2] = R, cf - R @ cb
        starts.append(H)
    return starts


def _eye_distance(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[263] - lm[33]))  # outer canthi


def align(base: PhotoView, fu: PhotoView, cfg: TrackingConfig) -> Alignment:
    """Align a follow-up photo to its baseline photo (module docstring); never raises for a pair that cannot be
    aligned: the result is then ``not_aligned`` with the reason."""
    cv2.setRNGSeed(0)  # MAGSAC / RANSAC draw from OpenCV's global generator: each pair starts from the same state
    quality = {"coverage": float("nan"), "skin_overlap": float("nan"), "correlation": float("nan"),
               "inliers": float("nan"), "residual_px": float("nan")}
    faces = base.landmarks is not None and fu.landmarks is not None
    # starts, most trusted first: (source, H, inliers, usable unrefined)
    candidates: list[tuple[str, np.ndarray, int, bool]] = []
    if faces:
        H, n = landmark_homography(base, fu)
        candidates.append(("landmarks", H, n, True))
    H, n, problem = feature_homography(base, fu, cfg)
    if H is not None and not problem and n < cfg.min_inliers:
        problem = f"only {n} matches agree on a transform (minimum {cfg.min_inliers})"
    if H is not None and not problem:
        candidates.append((cfg.features, H, n, True))
    elif not faces and cfg.refine != "ecc":
        quality["inliers"] = float(n)
        return Alignment("not_aligned", problem, cfg.features, None, None, quality)
    if cfg.refine == "ecc":  # also ECC from the few matches (smooth skin, small photos) and from the skin outline
        if H is not None and problem:
            candidates.append((cfg.features, H, n, False))
        candidates += [("skin shape", S, 0, False) for S in skin_shape_starts(base.skin, fu.skin)]
    ecc = EccImages(base, fu)
    best: tuple[float, str, np.ndarray, int] | None = None
    for source, H0, n, alone in candidates:  # each start refined; the best correlation wins
        refined = ecc.refine(H0, cfg.ecc_iterations) if cfg.refine == "ecc" else None
        options = [(ecc.score(H), method, H) for H, method in ((H0 if alone else None, source),
                                                                (refined, f"{source}+ecc")) if H is not None]
        if not options:
            continue
        score, method, H = max(options, key=lambda o: o[0])
        # two starts that converge to one solution differ in the 4th decimal: the more trusted one names it
        if best is None or (score > best[0] and ecc.moved(H, best[2]) > SAME_SOLUTION_PX):
            best = (score, method, H, n)
    if best is None:
        return Alignment("not_aligned", problem or "no transform found", cfg.features, None, None, quality)
    score, method, H, n = best
    quality.update(correlation=score, inliers=float(n))
    grid = homography_grid(H, base.skin.shape)
    if faces:
        lb, lf = base.landmarks.astype(np.float64), fu.landmarks.astype(np.float64)
        quality["residual_px"] = float(np.median(np.linalg.norm(_apply(H, lb) - lf, axis=1)))
        if cfg.face_warp == "piecewise_affine":
            grid = piecewise_affine_grid(lb, lf, base.skin.shape, grid)
            method = "landmarks+piecewise_affine"
    problem = _plausible(H, base.skin.shape)
    fu_skin, valid = warp_to_baseline(fu.skin.astype(np.uint8), grid)
    bs = base.skin
    quality["coverage"] = float((bs & valid).sum()) / max(int(bs.sum()), 1)
    union = int(((bs | (fu_skin > 0)) & valid).sum())
    quality["skin_overlap"] = float((bs & (fu_skin > 0) & valid).sum()) / max(union, 1)
    if not problem and quality["coverage"] < cfg.min_coverage:
        problem = (f"the follow-up photo shows {_apart(100 * quality['coverage'], 100 * cfg.min_coverage, ' %')} of the "
                   "baseline skin")
    if not problem and quality["correlation"] < cfg.min_correlation:
        problem = (f"the aligned photos correlate {_apart(quality['correlation'], cfg.min_correlation)}; "
                   "another view or another patient?")
    if not problem and quality["skin_overlap"] < cfg.min_skin_overlap:
        problem = f"skin masks overlap {_apart(quality['skin_overlap'], cfg.min_skin_overlap)} after alignment"
    if not problem and faces and quality["residual_px"] > cfg.max_landmark_residual * _eye_distance(base.landmarks):
        problem = (f"landmarks move {quality['residual_px']:.1f} px beyond the fitted transform (maximum "
                   f"{cfg.max_landmark_residual:.2f} x the eye distance)")
    return Alignment("not_aligned" if problem else "aligned", problem, method, grid, H, quality)


def _apart(value: float, minimum: float, unit: str = "") -> str:
    """``"0.5996 (minimum 0.6)"``: the value with as many decimals as it takes to differ from the minimum (2 to 6), so
    a value just below it never reads as equal."""
    for d in range(2, 7):
        v, m = f"{value:.{d}f}", f"{minimum:.{d}f}"
        if v != m:
            return f"{v}{unit} (minimum {minimum:g}{unit})"
    return f"{value:.6f}{unit} (minimum {minimum:g}{unit})"
