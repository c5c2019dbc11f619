"""Image I/O at the package boundary: read any clinical photo as RGB uint8, write masks and overlays atomically.

All arrays leaving this module are ``(H, W, 3) uint8 RGB`` (colour photos, **sRGB**) or ``(H, W) uint8`` (masks).
Reading goes through Pillow so that EXIF orientation, 16-bit, greyscale, palette, RGBA and CMYK inputs are converted
explicitly and decompression bombs are refused before decoding. HEIC/HEIF photos (phones) are read through
``pillow-heif``. A photo with an embedded ICC profile other than sRGB (Display P3 from phones, Adobe RGB from
cameras) is converted to sRGB with LittleCMS (``PIL.ImageCms``, relative colorimetric intent), so the model and the
colour statistics always see the same colour space.
"""

from __future__ import annotations

import io
import logging
import warnings
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from .files import atomic_write_bytes

try:  # HEIC / HEIF (iPhone and many Android phones)
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is a declared dependency
    HEIF_SUPPORTED = False


log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".heif")
# Photo files refused with a reason (an error row in ``vitiseg run``, not a silently ignored file).
GIF_REASON = ("GIF is not supported: its 256-colour palette changes skin colours, so lesions cannot be measured "
              "reliably; export the original photo as PNG or JPEG")
REFUSED_SUFFIXES = {".gif": GIF_REASON}
# Formats whose extra frames are not extra pages: MPO (phone JPEGs with a depth map or preview) keeps the photo first.
_SINGLE_PHOTO_FORMATS = {"MPO"}


class ImageReadError(ValueError):
    """A photo could not be read; the message says why (unreadable, truncated, empty, too large, ...)."""


def _to_rgb_array(img: Image.Image) -> np.ndarray:
    """Convert a Pillow image of any mode to ``(H, W, 3) uint8`` RGB."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(img, dtype=np.float64)
        top = 65535.0 if a.max() > 255 else 255.0
        g = np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        top = 1.0 if a.max() <= 1.0 else float(a.max())
        g = np.clip(np.round(a / top * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "CMYK":
        icc = img.info.get("icc_profile")
        if icc:
            try:
                src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
                dst = ImageCms.createProfile("sRGB")
                img = ImageCms.profileToProfile(img, src, dst, outputMode="RGB")
                return np.asarray(img, dtype=np.uint8).copy()
            except (ImageCms.PyCMSError, OSError):
                pass
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        # Composite transparent pixels onto white: they carry no skin.
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"), dtype=np.uint8).copy()
    if mode == "RGB":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode == "I;16" or mode.startswith("I;16"):
        return _to_rgb_array(img.convert("I"))
    return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


@lru_cache(maxsize=16)
def _srgb_transform(icc: bytes) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS transform embedded profile -> sRGB (8-bit RGB), or ``None`` when the profile is sRGB already."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    desc = (ImageCms.getProfileDescription(src) or "").strip().lower()
    if "srgb" in desc or "iec61966-2" in desc or "iec 61966-2" in desc:
        return None
    dst = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    return ImageCms.buildTransform(src, dst, "RGB", "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)


def to_srgb(img: Image.Image, icc: bytes | None = None) -> Image.Image:
    """An 8-bit RGB Pillow image with an ICC profile (``icc``, default: the embedded one) converted to sRGB; other
    images are returned as they are. A profile that LittleCMS cannot read is ignored (pixels taken as sRGB) with a
    warning.
    """
    icc = img.info.get("icc_profile") if icc is None else icc
    if not icc or img.mode != "RGB":
        return img
    try:
        tf = _srgb_transform(bytes(icc))
    except (ImageCms.PyCMSError, OSError, ValueError) as exc:
        log.warning("embedded ICC profile not usable (%s); pixels taken as sRGB", exc)
        return img
    return img if tf is None else ImageCms.applyTransform(img, tf)


def read_rgb(path: str | Path, max_pixels: int = 80_000_000, reduce_to_long_side: int = 0,
             notes: list[str] | None = None) -> np.ndarray:
    """Read a photo as ``(H, W, 3) uint8`` sRGB, upright (EXIF orientation applied, ICC profile converted to sRGB).

    ``reduce_to_long_side`` > 0 lets the JPEG decoder skip resolution (``draft`` mode, scale 1/2..1/8) while keeping
    the long side >= that value; the exact resize to the working size happens later. A file of several pages or
    frames (multi-page TIFF, HEIF sequence) gives its first; ``notes``, when given, receives a sentence saying so.
    Raises :class:`ImageReadError` with a human-readable reason for empty, truncated, unrecognised, oversized and GIF
    files.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise ImageReadError(f"cannot open file: {exc.strerror}") from None
    if size == 0:
        raise ImageReadError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
                if w <= 0 or h <= 0:
                    raise ImageReadError(f"image has no pixels ({w}x{h})")
                if w * h > max_pixels:
                    raise ImageReadError(
                        f"image too large: {w}x{h} = {w * h} pixels > limit {max_pixels} (decompression-bomb guard)"
                    )
                if img.format == "GIF":
                    raise ImageReadError(GIF_REASON)
                frames = getattr(img, "n_frames", 1)
                if frames > 1 and notes is not None and img.format not in _SINGLE_PHOTO_FORMATS:
                    notes.append(f"{img.format} file of {frames} pages or frames: the first is measured")
                if reduce_to_long_side > 0 and img.format == "JPEG":
                    scale = max(w, h) / reduce_to_long_side
                    if scale >= 2:
                        img.draft("RGB", (max(1, int(w / scale)), max(1, int(h / scale))))
                img.load()
                icc = img.info.get("icc_profile")  # read before any transpose, which may drop info
                img = ImageOps.exif_transpose(img)
                return _to_rgb_array(to_srgb(img, icc))
    except ImageReadError:
        raise
    except Image.DecompressionBombWarning as exc:
        raise ImageReadError(f"image too large (decompression-bomb guard): {exc}") from None
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"image too large (decompression-bomb guard): {exc}") from None
    except UnidentifiedImageError:
        raise ImageReadError("not a recognised image format (corrupt or not an image)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg.lower():
            raise ImageReadError(f"truncated image file: {msg}") from None
        raise ImageReadError(f"cannot decode image: {msg}") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """``(H, W)`` of a photo as :func:`read_rgb` returns it at full resolution (upright: EXIF orientations 5-8 swap
    the sides), read from the header only. For a photo read with ``reduce_to_long_side``, this is the size its masks
    are given at."""
    with Image.open(path) as img:
        w, h = img.size
        orientation = img.getexif().get(0x0112, 1)
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


def resize_long_side(rgb: np.ndarray, long_side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    """Resize so that ``max(H, W) == long_side`` (only ever downscales; ``long_side`` 0 returns the input)."""
    h, w = rgb.shape[:2]
    if long_side <= 0 or max(h, w) <= long_side:
        return rgb
    s = long_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interpolation)


def encode_png(arr: np.ndarray) -> bytes:
    """Lossless PNG bytes of a ``(H, W) uint8`` mask or ``(H, W, 3) uint8`` RGB image (no metadata)."""
    if arr.dtype != np.uint8:
        raise TypeError(f"expected uint8, got {arr.dtype}")
    data = arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", data, [cv2.IMWRITE_PNG_COMPRESSION, 6])
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of an ``(H, W, 3) uint8`` RGB image, with no EXIF or other metadata."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def write_png(path: str | Path, arr: np.ndarray) -> None:
    """Atomically write a PNG (see :func:`encode_png`)."""
    atomic_write_bytes(path, encode_png(arr))


def write_jpeg(path: str | Path, rgb: np.ndarray, quality: int = 90) -> None:
    """Atomically write a metadata-free JPEG (see :func:`encode_jpeg`)."""
    atomic_write_bytes(path, encode_jpeg(rgb, quality))


def read_mask(path: str | Path) -> np.ndarray:
    """Read a single-channel mask PNG as ``(H, W) uint8`` (values unchanged)."""
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise ImageReadError(f"cannot read mask {path}")
    if m.ndim == 3:
        m = m[:, :, 0]
    return m.astype(np.uint8)
