"""Photographic degradations applied after the lesions are painted: what a phone or clinic camera does to a scene.

All functions take and return ``(H, W, 3) uint8`` sRGB. Illumination, exposure and vignetting act in linear light
(sRGB EOTF, IEC 61966-2-1); blur and sensor noise follow; JPEG compression happens when the photo is encoded
(``jpeg_quality`` is returned so that the writer encodes exactly once).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from vitiseg.colour import linear_to_srgb, srgb_to_linear
from vitiseg.io.images import encode_jpeg


@dataclass(frozen=True)
class PhotoParams:
    """One photo's capture conditions (all drawn by :func:`sample_photo_params`)."""

    gain_r: float  # white-balance error, red channel gain (linear)
    gain_b: float  # blue channel gain (linear)
    exposure: float  # overall linear gain
    vignette: float  # corner darkening: linear factor 1 - vignette * r^2 (r = 1 at the corners)
    blur_sigma: float  # Gaussian defocus, px
    noise_sigma: float  # read noise SD, in 8-bit units
    shot_noise: float  # photon noise scale: SD = shot_noise * sqrt(value in 8-bit units)
    jpeg_quality: int

    def as_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def sample_photo_params(rng: np.random.Generator, strength: float = 1.0) -> PhotoParams:
    """Draw capture conditions; ``strength`` 0 gives an ideal camera, 1 the default spread."""
    s = float(strength)
    temp = rng.normal(0.0, 0.10 * s)  # warm/cool illuminant: red up, blue down (or reverse)
    tint = rng.normal(0.0, 0.03 * s)
    return PhotoParams(
        gain_r=float(np.exp(temp + tint)),
        gain_b=float(np.exp(-temp + tint)),
        exposure=float(np.exp(rng.normal(0.0, 0.22 * s))),
        vignette=float(rng.uniform(0.0, 0.45 * s)) if rng.random() < 0.6 else 0.0,
        blur_sigma=float(rng.uniform(0.3, 1.4 * s)) if rng.random() < 0.5 * s else 0.0,
        noise_sigma=float(rng.uniform(0.0, 4.0 * s)),
        shot_noise=float(rng.uniform(0.0, 0.5 * s)),
        jpeg_quality=int(rng.integers(60, 96)) if s > 0 else 95,
    )


def apply_photo(rgb: np.ndarray, p: PhotoParams, rng: np.random.Generator) -> np.ndarray:
    """Apply illumination colour/intensity, vignetting, blur and sensor noise (not JPEG) to an sRGB uint8 photo."""
    h, w = rgb.shape[:2]
    lin = srgb_to_linear(rgb)
    gains = np.array([p.gain_r, 1.0, p.gain_b], np.float32) * p.exposure
    lin *= gains
    if p.vignette > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        lin *= (1.0 - p.vignette * r2 / 2.0)[..., None]
    out = linear_to_srgb(lin)
    if p.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), p.blur_sigma)
    if p.noise_sigma > 0 or p.shot_noise > 0:
        f = out.astype(np.float32)
        sd = np.sqrt(p.noise_sigma**2 + (p.shot_noise**2) * f)
        f += sd * rng.standard_normal(f.shape, dtype=np.float32)
        out = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    return out


def jpeg_roundtrip(rgb: np.ndarray, quality: int) -> np.ndarray:
    """Encode and decode as JPEG at ``quality`` (what the written file will contain)."""
    buf = np.frombuffer(encode_jpeg(rgb, quality), np.uint8)
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
