"""Skin-tone balance: re-tone the skin of a photo towards a target ITA (lighter or darker), texture kept.

Used twice (issue 20): by the synthetic generator before lesions are painted (``vitiseg synth dataset
--tone-balance P``; the lesion appearance is then drawn for the new tone,
:func:`vitiseg.synth.render.sample_appearance`), and as a training-time augmentation of the lesion-free skin sets,
whose photos teach the healthy-skin class (:attr:`vitiseg.training.data.SourceConfig.tone_aug`, :func:`tone_augment`).

Model (CIELAB, D65, OpenCV float32 conversion of sRGB in [0, 1]): the median skin colour ``(L0, a0, b0)`` is moved to
``(L_t, a0 + da, b_t)`` with ``ITA_t = atan((L_t - 50) / b_t)``: L* is *scaled* by ``L_t / L0`` (relative texture,
shading and hair contrast kept, as melanin scales lightness multiplicatively to first order), a* and b* are *shifted*
(so their local variations are kept). Pixels outside the skin mask are unchanged except a 1.5-px soft seam
(mask blurred). The target ITA is drawn **tone-balanced** (:func:`sample_balanced_ita`): one of six ITA bins
(Del Bino et al. 2013 skin-colour categories: very light > 55, light 41-55, intermediate 28-41, tan 10-28,
brown -30-10, dark < -30 degrees, clipped to [-55, 65]) uniformly, then uniform within the bin; ``dark_bias`` is the
probability of drawing from the two darkest bins only.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: ITA bins (degrees, low, high), lightest first; the outer bins are clipped to what real skin photos reach.
ITA_BINS: tuple[tuple[str, float, float], ...] = (
    ("very_light", 55.0, 65.0),
    ("light", 41.0, 55.0),
    ("intermediate", 28.0, 41.0),
    ("tan", 10.0, 28.0),
    ("brown", -30.0, 10.0),
    ("dark", -55.0, -30.0),
)
L_RANGE = (22.0, 82.0)  # target median L* is kept within this range


def ita_bin(ita_deg: float) -> str:
    """Name of the :data:`ITA_BINS` bin of an ITA in degrees (values beyond the outer bins go to them)."""
    for name, lo, _ in ITA_BINS:
        if ita_deg > lo:
            return name
    return ITA_BINS[-1][0]


def sample_balanced_ita(rng: np.random.Generator, dark_bias: float = 0.0) -> float:
    """A target ITA (degrees): a bin of :data:`ITA_BINS` uniformly (with probability ``dark_bias`` only the two
    darkest), then uniform within it. Draws exactly three random numbers."""
    u_bias, u_bin, u_val = rng.random(3)
    bins = ITA_BINS[-2:] if u_bias < dark_bias else ITA_BINS
    _, lo, hi = bins[min(int(u_bin * len(bins)), len(bins) - 1)]
    return float(lo + u_val * (hi - lo))


def retone_skin(rgb: np.ndarray, skin: np.ndarray, target_ita: float, b_target: float, da: float = 0.0,
                min_px: int = 50) -> tuple[np.ndarray, dict[str, float] | None]:
    """Move the median skin colour of ``rgb`` to ITA ``target_ita`` (degrees) with b* = ``b_target`` (see module doc).

    ``rgb``: ``(H, W, 3) uint8`` sRGB; ``skin``: ``(H, W) bool``. Returns ``(rgb uint8, info)``, info =
    ``{"from_ita", "to_ita", "L_scale"}`` (the reached ITA: ``to_ita`` differs from the target only when L* had to be
    clipped to :data:`L_RANGE`), or ``(rgb, None)`` unchanged when the skin has fewer than ``min_px`` pixels.
    """
    if int(skin.sum()) < min_px:
        return rgb, None
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    L0, a0, b0 = (float(v) for v in np.median(lab[skin], axis=0))
    if L0 <= 1.0:
        return rgb, None
    L_t = float(np.clip(50.0 + b_target * math.tan(math.radians(target_ita)), *L_RANGE))
    new = lab.copy()
    new[..., 0] = np.clip(lab[..., 0] * (L_t / L0), 0.0, 100.0)
    new[..., 1] = lab[..., 1] + da
    new[..., 2] = lab[..., 2] + (b_target - b0)
    shifted = cv2.cvtColor(new, cv2.COLOR_Lab2RGB) * 255.0
    m = skin.astype(np.float32)
    w = np.maximum(m, cv2.GaussianBlur(m, (0, 0), 1.5))[..., None]
    out = np.clip(np.round(rgb.astype(np.float32) * (1.0 - w) + shifted * w), 0, 255).astype(np.uint8)
    return out, {"from_ita": round(math.degrees(math.atan2(L0 - 50.0, b0)), 2),
                 "to_ita": round(math.degrees(math.atan2(L_t - 50.0, b_target)), 2),
                 "L_scale": round(L_t / L0, 4)}


def sample_retone(rgb: np.ndarray, skin: np.ndarray, rng: np.random.Generator,
                  dark_bias: float = 0.0) -> tuple[np.ndarray, dict[str, float] | None]:
    """Re-tone to a tone-balanced target: ITA from :func:`sample_balanced_ita`, b* ~ U(12, 20) for ITA > 28 degrees
    else U(14, 22) (brown / dark skin is more yellow), a* shift ~ U(-1, 3). Draws exactly five random numbers."""
    ita = sample_balanced_ita(rng, dark_bias)
    u_b, u_a = rng.random(2)
    b_t = (12.0 + 8.0 * u_b) if ita > 28.0 else (14.0 + 8.0 * u_b)
    return retone_skin(rgb, skin, ita, float(b_t), float(-1.0 + 4.0 * u_a))


def tone_augment(rgb: np.ndarray, target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Training augmentation of a lesion-free skin photo: ``rgb`` ``(H, W, 3) uint8`` (colour-normalised) re-toned on
    its skin pixels (``target`` ``(H, W) uint8`` bit mask with the healthy-skin bit 2 set alone) by
    :func:`sample_retone`. Returns the new ``(H, W, 3) uint8`` photo (the target is unchanged)."""
    skin = target == 2
    out, _ = sample_retone(rgb, skin, rng)
    return out
