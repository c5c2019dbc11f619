"""Paint depigmented lesions onto a skin photo and return the photo, its exact class mask and its truth.

Order of operations for one sample: lesion layout on the skin mask (:mod:`.shapes`) -> threshold for the wanted
fraction -> depigmentation map ``alpha`` -> class mask (class 2 iff skin and ``alpha >= 0.5``) -> real pixels
modulated in CIELAB (:mod:`.appearance`) -> camera degradations (:mod:`.photo`). The class mask and the truth are
computed from the same ``alpha`` that was painted, so they are exact for the scene; camera blur/noise/JPEG change
the pixels, not the truth.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from vitiseg.colour import skin_ita
from vitiseg.synth.appearance import LesionParams, apply_depigmentation, sample_lesion_params
from vitiseg.synth.photo import PhotoParams, apply_photo, jpeg_roundtrip, sample_photo_params
from vitiseg.synth.shapes import (
    KIND_WEIGHTS,
    KINDS,
    Layout,
    classes_from_alpha,
    depigmentation_alpha,
    follicle_map,
    make_layout,
    solve_threshold,
)


#: Generator version recorded by ``vitiseg synth dataset`` (dataset.json) and ``vitiseg synth cohort`` (summary.json).
#: v3: realism constraints of :func:`sample_appearance` (dark-skin lightness contrast, no barely visible lesions, no
#: chroma gain).
GENERATOR_VERSION = "v3"

#: Realism constraints applied on top of the fitted linear model of :mod:`.appearance` (measured with
#: ``scripts/synth_realism.py`` on real_vitiligo_dev, 34 source photos):
#:
#: * The log-linear dL(ITA) fit is pulled by the light groups and under-predicts dark skin: at the real dark group's
#:   median ITA (-20.8 deg) it gives 18.6 L* against a measured group median of 22.2 (ratio 1.19), while at the
#:   intermediate (19.6 deg: 11.6 vs 11.6) and light (46.9 deg: 8.6 vs 9.1) medians it is right. dL is therefore
#:   multiplied by ``1 + DL_DARK_BOOST * clip((DARK_ITA_NONE - ITA) / (DARK_ITA_NONE - DARK_ITA_FULL), 0, 1)``.
#: * Real lesions start at ~5 L* (lowest measured 10th percentile: 5.2, light skin); the fitted log-normal reached
#:   its 2.0 floor and, after soft borders and camera blur, ~11 % of synthetic lesions measured < 3 L*. Floor DL_MIN.
#: * Real depigmented skin loses chroma (dark group rho q90 0.985); the model's 1.3 cap let lesions gain chroma.
#:   Cap RHO_MAX.
DL_DARK_BOOST = 0.19
DARK_ITA_NONE = 10.0
DARK_ITA_FULL = -20.0
DL_MIN = 6.0
RHO_MAX = 1.0
#: floor of the lightness gain (L*) of *faint* lesions (``render_sample(dl_scale < 1)``, :mod:`.hard`): just below the
#: lowest 10th percentile measured on real lesions (5.2 L*), so faint lesions stay in the range seen on real photos
FAINT_DL_MIN = 4.0


def sample_appearance(ita: float, rng: np.random.Generator) -> LesionParams:
    """One photo's lesion appearance: :func:`vitiseg.synth.appearance.sample_lesion_params` (same random draws)
    followed by the realism constraints above. ``ita`` in degrees (NaN -> the model's default)."""
    p = sample_lesion_params(ita, rng)
    x = 30.0 if not np.isfinite(ita) else float(ita)
    boost = 1.0 + DL_DARK_BOOST * float(np.clip((DARK_ITA_NONE - x) / (DARK_ITA_NONE - DARK_ITA_FULL), 0.0, 1.0))
    return replace(p, dL=float(max(p.dL * boost, DL_MIN)), rho=float(min(p.rho, RHO_MAX)))


def sample_target_fraction(rng: np.random.Generator, p_clear: float = 0.10, p_large: float = 0.15) -> float:
    """Depigmented share of skin for a training sample: ``p_clear`` lesion-free, ``p_large`` very large
    (40-97 %), the rest log-uniform 1-50 %."""
    u = rng.random()
    if u < p_clear:
        return 0.0
    if u < p_clear + p_large:
        return float(rng.uniform(0.40, 0.97))
    return float(np.exp(rng.uniform(np.log(0.01), np.log(0.50))))


def truth_from_mask(cls: np.ndarray) -> dict[str, Any]:
    """Counts and fraction from a class mask (H,W) uint8 {0,1,2}: fraction = #2 / (#1 + #2) (0 when no skin)."""
    counts = np.bincount(cls.ravel(), minlength=3)
    skin_px = int(counts[1] + counts[2])
    return {
        "height": int(cls.shape[0]), "width": int(cls.shape[1]),
        "area_px": {"background": int(counts[0]), "skin": int(counts[1]), "depigmented": int(counts[2])},
        "skin_px": skin_px, "depigmented_px": int(counts[2]),
        "fraction": (float(counts[2]) / skin_px) if skin_px else 0.0,
    }


def paint(rgb: np.ndarray, skin: np.ndarray, layout: Layout, t: float, params: LesionParams,
          island_grow: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paint lesions at threshold ``t``: returns ``(painted rgb uint8, class mask uint8, alpha float32)``."""
    islands = follicle_map(layout, skin.shape, island_grow) if len(layout.follicle_r) else None
    alpha = depigmentation_alpha(layout, skin, t, islands)
    return apply_depigmentation(rgb, alpha, params), classes_from_alpha(alpha, skin), alpha


def render_sample(
    background_rgb: np.ndarray,
    skin_mask: np.ndarray,
    rng: np.random.Generator,
    target_fraction: float | None = None,
    kind: str | None = None,
    photo_strength: float = 1.0,
    jpeg: bool = False,
    exact: bool = False,
    paint_lesions: bool = True,
    dl_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """Render one synthetic vitiligo photo.

    Args:
        background_rgb: (H,W,3) uint8 sRGB real or procedural skin photo.
        skin_mask: (H,W) bool (or 0/1, 0/255) skin mask of the background; lesions are painted only there.
        rng: numpy Generator; the output is a pure function of the inputs and the generator state.
        target_fraction: wanted depigmented share of skin in [0, 1]; None draws one (:func:`sample_target_fraction`).
        kind: lesion pattern (see :data:`vitiseg.synth.shapes.KINDS`) or None for a random one.
        photo_strength: 0 = no camera degradation, 1 = default spread.
        jpeg: if True the returned RGB has been through the sampled JPEG quality (in-memory training use);
            dataset writers pass False and encode once at ``truth["photo"]["jpeg_quality"]``.
        exact: bisect the threshold so the class-2 share hits ``target_fraction`` (otherwise one quantile step,
            close but not exact; the truth always describes the returned mask).
        paint_lesions: False renders the lesion-free twin of the same sample: every random draw, the class mask,
            the truth and the camera degradation (noise included) are identical, only the depigmentation is not
            painted (``research/2026-11-30-synth-visibility/`` measures how much each labelled pixel changed).
        dl_scale: < 1 paints *faint* lesions: the sampled lightness gain dL (L* units) is multiplied by it, floored at
            :data:`FAINT_DL_MIN` (1 = the standard appearance: no change and no random draw).

    Returns:
        ``(rgb (H,W,3) uint8, classmask (H,W) uint8 in {0,1,2}, truth dict)``; truth holds pixel counts per class,
        ``fraction`` (= #2 / (#1 + #2)), the healthy-skin ITA, lesion and camera parameters.
    """
    skin = np.asarray(skin_mask).astype(bool)
    if skin.shape != background_rgb.shape[:2]:
        raise ValueError(f"skin mask {skin.shape} does not match image {background_rgb.shape[:2]}")
    target = sample_target_fraction(rng) if target_fraction is None else float(target_fraction)
    ita = skin_ita(background_rgb, skin)
    params = sample_appearance(ita, rng)
    if dl_scale != 1.0:
        params = replace(params, dL=float(max(params.dL * dl_scale, min(FAINT_DL_MIN, params.dL))))
    if kind is None and target > 0.08:  # confetti macules only make sense for small involvement
        w = np.array([0.0 if k == "confetti" else p for k, p in zip(KINDS, KIND_WEIGHTS)])
        kind = str(rng.choice(KINDS, p=w / w.sum()))
    layout = make_layout(skin, rng, kind)
    islands = follicle_map(layout, skin.shape) if len(layout.follicle_r) else None
    if target <= 0:
        t, alpha = 1.0, np.zeros(skin.shape, np.float32)
    elif exact:
        t, alpha = solve_threshold(layout, skin, target, islands)
    else:
        t = 1.0 - target
        alpha = depigmentation_alpha(layout, skin, t, islands)
    painted = apply_depigmentation(background_rgb, alpha, params) if paint_lesions else background_rgb.copy()
    cls = classes_from_alpha(alpha, skin)
    photo: PhotoParams = sample_photo_params(rng, photo_strength)
    out = apply_photo(painted, photo, rng) if photo_strength > 0 else painted
    if jpeg:
        out = jpeg_roundtrip(out, photo.jpeg_quality)
    truth = truth_from_mask(cls)
    truth.update({
        "target_fraction": round(target, 6),
        "threshold": float(t),
        "ita_deg": round(float(ita), 3) if np.isfinite(ita) else None,
        "lesion": {**layout.describe(), "dL": round(params.dL, 3), "rho": round(params.rho, 4),
                   "dh": round(params.dh, 3), "texture_keep": round(params.texture_keep, 3)},
        "photo": photo.as_dict(),
    })
    return out, cls, truth
