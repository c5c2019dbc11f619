"""Colour chart: find a 24-patch ColorChecker in a photo and fit the colour correction that maps its patches to their
reference colours.

- **Detection**: OpenCV's ``mcc`` module (opencv-contrib), chart type ``MCC24``: the X-Rite / Calibrite ColorChecker
  Classic and the cards with the same 24-patch layout at a smaller size (ColorChecker Mini, the classic page of the
  Passport). It returns the 24 patch quadrilaterals in the chart's reading order.
- **Measurement**: each patch is sampled in its central half (away from the edges, blur and the frame), as the
  per-channel median of *linear* sRGB. A patch with more than 2 % of clipped pixels (a channel >= 254) or a black
  channel (<= 2) is left out of the fit: its true value is unknown.
- **Reference**: colour-science's ``ColorChecker24 - After November 2014`` (CIE xyY under D50), adapted to D65 with
  the Bradford transform and expressed in linear sRGB (clipped to [0, 1], as an sRGB camera records it).
- **Correction** in linear sRGB, least squares over the usable patches (colour-science):
  ``matrix``: a 3 x 3 matrix (Cheung et al. 2004, 3 terms), exact for a change of illuminant, white balance and
  exposure of a linear camera; ``root_polynomial``: Finlayson et al. 2015, degree 2 (3 x 6), which also absorbs mild
  non-linearity and stays exposure invariant.
- **Orientation and false detections**: the chart's reading order is tried both ways (a chart upside down reverses
  it) and the better fit is kept; a detection whose corrected patches still differ from the reference by more than
  ``max_residual_de00`` (mean CIEDE2000), or with fewer than ``min_patches`` usable patches, is rejected: a plaid shirt
  can look like a grid of patches, and then no colour is changed.

Colour differences are CIEDE2000 (``colour.delta_E(..., method="CIE 2000")``) of CIELAB (D65) from
:func:`vitiseg.colour.linear_to_lab`, averaged over all 24 patches (clipped ones included).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..colour import linear_to_lab, linear_to_srgb, srgb_to_linear
from ..config import ChartConfig

REFERENCE = "ColorChecker24 - After November 2014"
N_PATCHES = 24
PATCH_SIDE = 0.85  # patch side in units of the patch pitch (ColorChecker Classic: ~40 mm patches, ~47 mm pitch)
PATCH_SAMPLE = 0.5  # linear share of a patch's side that is sampled, around its centre
CARD_MARGIN = 0.5  # the card's frame beyond the patch grid's half-pitch border, in pitches (Classic: up to ~0.45)
MAX_CLIPPED_SHARE = 0.02
METHODS = {"matrix": ("Cheung 2004", {"terms": 3}), "root_polynomial": ("Finlayson 2015", {"degree": 2})}


@lru_cache(maxsize=1)
def reference_linear() -> np.ndarray:
    """``(24, 3) float64`` reference colours of the ColorChecker in linear sRGB (D65), reading order, in [0, 1]."""
    import colour  # colour-science loads matplotlib: only when a chart is measured
    cc = colour.CCS_COLOURCHECKERS[REFERENCE]
    xyz = colour.xyY_to_XYZ(np.array(list(cc.data.values()), dtype=np.float64))
    lin = colour.XYZ_to_RGB(xyz, "sRGB", illuminant=cc.illuminant, chromatic_adaptation_transform="Bradford")
    return np.clip(lin, 0.0, 1.0)


def reference_srgb() -> np.ndarray:
    """``(24, 3) uint8`` reference colours as sRGB codes (what an ideal sRGB camera records)."""
    return linear_to_srgb(reference_linear())


def mean_de00(lin_a: np.ndarray, lin_b: np.ndarray) -> float:
    """Mean CIEDE2000 between two ``(N, 3)`` sets of linear sRGB colours (CIELAB D65 of each)."""
    import colour  # colour-science loads matplotlib: only when a chart is measured
    return float(np.mean(colour.delta_E(linear_to_lab(lin_a), linear_to_lab(lin_b), method="CIE 2000")))


def detect_centres(rgb: np.ndarray) -> np.ndarray | None:
    """Patch centres of the best ColorChecker candidate in ``rgb`` (``(H, W, 3) uint8`` sRGB): ``(24, 2) float64``
    (x, y) px in the chart's reading order as found, or None when there is none."""
    detector = cv2.mcc.CCheckerDetector_create()
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    if not detector.process(bgr, cv2.mcc.MCC24, 1):
        return None
    quads = np.asarray(detector.getBestColorChecker().getColorCharts(), dtype=np.float64).reshape(-1, 4, 2)
    return quads.mean(axis=1) if len(quads) == N_PATCHES else None


def layout_centres() -> np.ndarray:
    """``(24, 2)`` patch centres of the chart's layout, reading order, in units of the patch pitch."""
    r, c = np.divmod(np.arange(N_PATCHES), 6)
    return np.column_stack([c, r]).astype(np.float64)


def chart_homography(centres: np.ndarray) -> np.ndarray:
    """``(3, 3)`` homography from layout units (:func:`layout_centres`) to image px, fitted to the 24 centres."""
    h, _ = cv2.findHomography(layout_centres(), centres, 0)
    if h is None:
        raise ValueError("degenerate chart geometry")
    return h


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Layout points ``(N, 2)`` -> image px ``(N, 2) float64`` through ``h``."""
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), h).reshape(-1, 2)


def sample_patches(rgb: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median linear sRGB of the central part of each patch: ``((24, 3) float64, (24,) bool usable)``.

    ``rgb``: ``(H, W, 3) uint8`` sRGB; ``h``: layout -> image homography (:func:`chart_homography`)."""
    height, width = rgb.shape[:2]
    half = PATCH_SAMPLE * PATCH_SIDE / 2
    square = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    means = np.zeros((N_PATCHES, 3))
    usable = np.zeros(N_PATCHES, bool)
    for i, c in enumerate(layout_centres()):
        quad = project(h, c + square)
        x0, y0 = np.floor(quad.min(axis=0)).astype(int)
        x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x1 <= x0 or y1 <= y0:
            continue
        m = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(m, np.round(quad - (x0, y0)).astype(np.int32), 1)
        px = rgb[y0:y1, x0:x1][m.astype(bool)]
        if len(px) < 4:
            continue
        means[i] = np.median(srgb_to_linear(px), axis=0)
        clipped = float(np.mean((px >= 254).any(axis=1)))
        usable[i] = clipped <= MAX_CLIPPED_SHARE and bool(np.all(np.median(px, axis=0) > 2))
    return means, usable


@dataclass(frozen=True)
class ColourCorrection:
    """A fitted correction in linear sRGB: ``method`` (``matrix`` | ``root_polynomial``) and its ``(3, terms)``
    matrix (colour-science's convention: corrected = matrix @ expansion(rgb))."""

    method: str
    matrix: np.ndarray

    def apply_linear(self, lin: np.ndarray) -> np.ndarray:
        """``(..., 3)`` linear sRGB -> corrected ``(..., 3) float32`` linear sRGB (not clipped)."""
        import colour  # colour-science loads matplotlib: only when a chart is measured
        _, kw = METHODS[self.method]
        a = np.asarray(lin, dtype=np.float32)
        if self.method == "matrix":
            return cv2.transform(a.reshape(-1, 1, 3), self.matrix.astype(np.float32)).reshape(a.shape)
        expanded = colour.characterisation.polynomial_expansion_Finlayson2015(np.clip(a, 0.0, None), **kw)
        return (np.asarray(expanded, dtype=np.float32) @ self.matrix.T.astype(np.float32)).reshape(a.shape)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB -> corrected ``(H, W, 3) uint8`` sRGB (values outside [0, 1] clipped)."""
        return linear_to_srgb(self.apply_linear(srgb_to_linear(rgb)))

    def describe(self) -> str:
        """The matrix as text for photos.csv: ``method: r1c1 r1c2 ...; r2c1 ...`` (4 decimals)."""
        rows = "; ".join(" ".join(f"{v:.4f}" for v in row) for row in self.matrix)
        return f"{self.method}: {rows}"


def fit_correction(measured: np.ndarray, usable: np.ndarray, method: str) -> ColourCorrection:
    """Least-squares correction from ``measured`` ``(24, 3)`` linear patch colours (reading order) to the reference,
    over the ``usable`` patches."""
    import colour  # colour-science loads matplotlib: only when a chart is measured
    name, kw = METHODS[method]
    m = colour.characterisation.matrix_colour_correction(measured[usable], reference_linear()[usable],
                                                         method=name, **kw)
    return ColourCorrection(method, np.asarray(m, dtype=np.float64))


@dataclass(frozen=True)
class ChartResult:
    """The colour chart of one photo.

    ``status``: ``corrected``, ``none`` (no chart found) or ``rejected: <why>`` (a candidate that did not fit).
    ``correction``: the fitted correction when ``corrected``. ``de00_before`` / ``de00_after``: mean CIEDE2000 of the
    24 patches against the reference, as photographed and after the correction (NaN when not corrected).
    ``n_usable``: patches used in the fit. ``homography``: layout -> image px of an accepted chart."""

    status: str
    correction: ColourCorrection | None = None
    de00_before: float = float("nan")
    de00_after: float = float("nan")
    n_usable: int = 0
    homography: np.ndarray | None = None


def measure_chart(rgb: np.ndarray, cfg: ChartConfig) -> ChartResult:
    """Find the chart in ``rgb`` (``(H, W, 3) uint8`` sRGB), fit the correction and check it (module docstring)."""
    centres = detect_centres(rgb)
    if centres is None:
        return ChartResult("none")
    ref = reference_linear()
    best: ChartResult | None = None
    for order in (centres, centres[::-1]):  # the reading order as found, and the chart turned 180 degrees
        try:
            h = chart_homography(order)
        except ValueError:
            return ChartResult("rejected: the candidate's patches are not on a grid")
        measured, usable = sample_patches(rgb, h)
        if usable.sum() < cfg.min_patches:
            best = best or ChartResult(f"rejected: {int(usable.sum())} usable patches (< {cfg.min_patches}; "
                                       "over- or under-exposed chart)")
            continue
        corr = fit_correction(measured, usable, cfg.method)
        after = mean_de00(np.clip(corr.apply_linear(measured), 0.0, 1.0), ref)
        if best is None or best.correction is None or after < best.de00_after:
            best = ChartResult("corrected", corr, mean_de00(measured, ref), after, int(usable.sum()), h)
    assert best is not None
    if best.correction is not None and best.de00_after > cfg.max_residual_de00:
        return ChartResult(f"rejected: patches differ from a ColorChecker by {best.de00_after:.1f} dE00 after the "
                           f"best fit (> {cfg.max_residual_de00:g}); not a chart")
    return best


def chart_region(h: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(H, W) bool`` pixels of the chart card for an image of ``shape`` ``(H, W)``: the patch grid and
    :data:`CARD_MARGIN` pitches of frame around it, through the layout -> image homography ``h``."""
    lo, hi = -0.5 - CARD_MARGIN, np.array([5.5, 3.5]) + CARD_MARGIN
    outline = project(h, np.array([[lo, lo], [hi[0], lo], [hi[0], hi[1]], [lo, hi[1]]]))
    m = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(m, np.round(outline).astype(np.int32), 1)
    return m.astype(bool)
