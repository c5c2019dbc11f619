"""Lesion appearance: how depigmented skin differs from the surrounding healthy skin, measured and modelled in CIELAB.

Measurement (:func:`measure_contrast`) compares a lesion core with a ring of surrounding skin in one photo and returns
the lesion-minus-skin differences in CIELAB / CIE LCh (D65, sRGB): ``dL`` (lightness, L* units), ``dC`` (chroma),
``dh`` (hue angle, degrees, wrapped to [-180, 180)), plus the ITA (individual typology angle, degrees) of the ring
skin. ``scripts/synth_realism.py --write-stats`` runs it over a folder of real vitiligo photos with lesion masks and
fits, per skin-tone, the linear model stored in ``lesion_appearance.json`` (next to this module):

    log dL = a_L + b_L * ITA + N(0, s_L)        (log-normal: the spread scales with the contrast)
    rho = C_lesion / C_skin = a_r + b_r * ITA + N(0, s_r)
    dh = a_h + b_h * ITA + N(0, s_h)

:func:`sample_lesion_params` draws one lesion's parameters from that model for a given healthy-skin ITA, and
:func:`apply_depigmentation` modulates the real pixels with them (additive in L*, multiplicative in chroma, rotation in
hue), so that the photo's texture, hair and shading survive inside the lesion.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from vitiseg.colour import ita_degrees, lab_to_rgb, rgb_to_lab
from vitiseg.io.files import atomic_write_text

STATS_FILE = "lesion_appearance.json"

#: ITA (degrees) group boundaries used for reporting: dark <= 10 < intermediate <= 41 < light (Chardon et al. 1991,
#: "brown/dark" / "tan/intermediate" / "light/very light" merged into three groups).
ITA_GROUPS: tuple[tuple[str, float, float], ...] = (
    ("dark", -90.0, 10.0),
    ("intermediate", 10.0, 41.0),
    ("light", 41.0, 90.0),
)


def ita_group(ita_deg: float) -> str:
    """Skin-tone group name (``dark`` / ``intermediate`` / ``light``) of an ITA in degrees."""
    for name, lo, hi in ITA_GROUPS:
        if lo < ita_deg <= hi:
            return name
    return "dark" if ita_deg <= ITA_GROUPS[0][1] else "light"


def skin_colour_rule(rgb: np.ndarray) -> np.ndarray:
    """Loose skin-colour detector (YCrCb box, Chai & Ngan 1999, widened for pink depigmented and dark skin).

    ``rgb`` (H,W,3) uint8 -> (H,W) bool. Used only to keep the comparison ring on skin in photos without skin masks.
    """
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    y, cr, cb = ycc[..., 0], ycc[..., 1], ycc[..., 2]
    return (cr >= 130) & (cr <= 185) & (cb >= 70) & (cb <= 135) & (y >= 25) & (y <= 250)


@dataclass(frozen=True)
class Contrast:
    """Lesion-minus-surrounding-skin difference in one photo (CIELAB D65; degrees for angles)."""

    dL: float
    dC: float
    dh: float
    rho: float  # chroma ratio C_lesion / C_skin
    ita: float  # ITA of the ring skin
    L_skin: float
    C_skin: float
    n_lesion: int
    n_ring: int


def _lch(lab: np.ndarray) -> tuple[float, float, float]:
    L = float(np.median(lab[:, 0]))
    a = float(np.median(lab[:, 1]))
    b = float(np.median(lab[:, 2]))
    return L, math.hypot(a, b), math.degrees(math.atan2(b, a))


def measure_contrast(
    rgb: np.ndarray,
    lesion: np.ndarray,
    skin: np.ndarray | None = None,
    erode_px: int = 3,
    ring_px: tuple[int, int] = (6, 20),
    min_px: int = 50,
) -> Contrast | None:
    """Median CIELAB colour of the lesion core against a ring of skin around it.

    ``rgb`` (H,W,3) uint8 sRGB; ``lesion`` (H,W) bool; ``skin`` (H,W) bool or None (then :func:`skin_colour_rule`
    keeps the ring on skin-coloured pixels). The core is the lesion eroded by ``erode_px`` (coarse polygons cut
    corners); the ring is the band ``ring_px[0]..ring_px[1]`` pixels outside the lesion, on skin. Returns None when
    either has fewer than ``min_px`` pixels.
    """
    les = lesion.astype(np.uint8)
    if erode_px > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * erode_px + 1, 2 * erode_px + 1))
        core = cv2.erode(les, k).astype(bool)
    else:
        core = lesion.astype(bool)
    dist = cv2.distanceTransform((1 - les).astype(np.uint8), cv2.DIST_L2, 5)
    ring = (dist >= ring_px[0]) & (dist <= ring_px[1])
    ring &= skin if skin is not None else skin_colour_rule(rgb)
    if skin is not None:
        core &= skin
    if core.sum() < min_px or ring.sum() < min_px:
        return None
    lab_core = rgb_to_lab(rgb[core]).astype(np.float64)
    lab_ring = rgb_to_lab(rgb[ring]).astype(np.float64)
    Lc, Cc, hc = _lch(lab_core)
    Lr, Cr, hr = _lch(lab_ring)
    dh = (hc - hr + 180.0) % 360.0 - 180.0
    ita = ita_degrees(Lr, float(np.median(lab_ring[:, 2])))
    return Contrast(
        dL=Lc - Lr, dC=Cc - Cr, dh=dh, rho=Cc / max(Cr, 1e-6), ita=ita, L_skin=Lr, C_skin=Cr,
        n_lesion=int(core.sum()), n_ring=int(ring.sum()),
    )


# ----------------------------------------------------------------------------------------------------------------
# The fitted model


@dataclass(frozen=True)
class LinearTerm:
    """``value = intercept + slope * ITA + N(0, sd)`` (or its exp when ``log``), clipped to [lo, hi]."""

    intercept: float
    slope: float
    sd: float
    lo: float
    hi: float
    log: bool = False

    def sample(self, ita: float, rng: np.random.Generator, sd_scale: float = 1.0) -> float:
        v = self.intercept + self.slope * ita + rng.normal(0.0, self.sd * sd_scale)
        return float(np.clip(np.exp(v) if self.log else v, self.lo, self.hi))

    def mean(self, ita: float) -> float:
        v = self.intercept + self.slope * ita
        return float(np.clip(np.exp(v) if self.log else v, self.lo, self.hi))


@dataclass(frozen=True)
class AppearanceModel:
    """Per-lesion appearance model fitted on real photos (see module docstring)."""

    dL: LinearTerm
    rho: LinearTerm
    dh: LinearTerm
    source: str


def fit_linear(ita: np.ndarray, y: np.ndarray, lo: float, hi: float, log: bool = False) -> LinearTerm:
    """Least-squares ``y ~ ita`` (``numpy.polyfit`` degree 1; on ``log y`` when ``log``) with residual SD;
    ``lo``/``hi`` clip samples."""
    if log:
        y = np.log(np.maximum(y, 1e-3))
    slope, intercept = np.polyfit(ita, y, 1)
    resid = y - (intercept + slope * ita)
    sd = float(np.sqrt(np.sum(resid**2) / max(1, len(y) - 2)))
    return LinearTerm(float(intercept), float(slope), sd, lo, hi, log)


def save_model(model: AppearanceModel, path: str | Path, extra: dict | None = None) -> None:
    """Write the model (and ``extra`` provenance such as per-group quantiles) as JSON."""
    data = {"dL": asdict(model.dL), "rho": asdict(model.rho), "dh": asdict(model.dh), "source": model.source}
    if extra:
        data["measurement"] = extra
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> AppearanceModel:
    """Load the appearance model (default: the measured ``lesion_appearance.json`` shipped with the package)."""
    p = Path(path) if path else Path(str(resources.files("vitiseg.synth") / STATS_FILE))
    data = json.loads(p.read_text(encoding="utf-8"))
    return AppearanceModel(
        dL=LinearTerm(**data["dL"]), rho=LinearTerm(**data["rho"]), dh=LinearTerm(**data["dh"]),
        source=str(data.get("source", p.name)),
    )


@dataclass(frozen=True)
class LesionParams:
    """Appearance of the lesions of one photo: full-depigmentation change in L*, chroma ratio and hue shift."""

    dL: float
    rho: float
    dh: float
    texture_keep: float  # 0..1: fraction of the local L* detail (melanin mottling) kept inside the lesion


def sample_lesion_params(ita: float, rng: np.random.Generator, model: AppearanceModel | None = None) -> LesionParams:
    """Draw one photo's lesion appearance for healthy skin of ITA ``ita`` (degrees)."""
    m = model or load_model()
    if not np.isfinite(ita):
        ita = 30.0
    # The fit residuals of chroma ratio and hue include the measurement noise of coarse polygons and of the hue of
    # near-grey pixels; measuring synthetic lesions adds that noise again, so their spread is drawn at 75 %
    # (chosen so the synthetic-vs-real KS statistics of scripts/synth_realism.py do not grow).
    return LesionParams(
        dL=m.dL.sample(ita, rng), rho=m.rho.sample(ita, rng, 0.75), dh=m.dh.sample(ita, rng, 0.75),
        texture_keep=float(rng.uniform(0.6, 0.95)),
    )


def apply_depigmentation(rgb: np.ndarray, alpha: np.ndarray, params: LesionParams) -> np.ndarray:
    """Modulate real pixels towards depigmented skin.

    ``rgb`` (H,W,3) uint8 sRGB; ``alpha`` (H,W) float32 in [0, 1] (1 = fully depigmented, 0 = unchanged).
    In CIELAB (:func:`vitiseg.colour.rgb_to_lab`): L* += alpha * dL, with the local L* detail (difference from a blurred
    copy) scaled by ``1 - alpha * (1 - texture_keep)``; (a*, b*) scaled by ``1 - alpha * (1 - rho)`` and rotated by
    ``alpha * dh``. Returns (H,W,3) uint8 sRGB. Pixels with alpha 0 are returned bit-identical.
    """
    sel = alpha > 1e-3
    if not sel.any():
        return rgb.copy()
    ys, xs = np.nonzero(sel)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    pad = 8
    y0p, x0p = max(0, y0 - pad), max(0, x0 - pad)
    y1p, x1p = min(rgb.shape[0], y1 + pad), min(rgb.shape[1], x1 + pad)
    crop = rgb[y0p:y1p, x0p:x1p]
    a = alpha[y0p:y1p, x0p:x1p].astype(np.float32)
    lab = rgb_to_lab(crop)
    L = lab[..., 0]
    base = cv2.GaussianBlur(L, (0, 0), 3.0)
    detail = L - base
    L_new = base + detail * (1.0 - a * (1.0 - params.texture_keep)) + a * params.dL
    scale = 1.0 - a * (1.0 - params.rho)
    ang = np.deg2rad(a * params.dh)
    ca, sa = np.cos(ang), np.sin(ang)
    A, B = lab[..., 1], lab[..., 2]
    A_new = scale * (A * ca - B * sa)
    B_new = scale * (A * sa + B * ca)
    lab_new = np.stack([np.clip(L_new, 0, 100), A_new, B_new], axis=-1)
    out_crop = lab_to_rgb(lab_new)
    out = rgb.copy()
    region = out[y0p:y1p, x0p:x1p]
    m = a > 1e-3
    region[m] = out_crop[m]
    return out
