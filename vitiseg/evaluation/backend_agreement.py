"""Do two segmenters give the same masks? The check of an ONNX export against its PyTorch weights
(``scripts/check_onnx.py``, ``tests/evaluation/test_backend_agreement.py``).

Each photo goes through :func:`vitiseg.segmentation.base.segment_photo` with each segmenter, as ``vitiseg run`` takes
it; per photo the share of pixels with the same class and the depigmented fraction (depigmented / skin pixels) of
each are compared. Photos (:func:`agreement_photos`) are of different sizes and aspect ratios, so the ONNX graph's
dynamic height and width are exercised: real skin photos of the research skin sets, real vitiligo photos, synthetic
lesions painted on real skin photos and on procedural body parts (only the procedural ones without the data).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io.images import IMAGE_SUFFIXES, read_rgb
from ..scoring.vasi import fraction, mask_counts
from ..segmentation.base import Segmenter, segment_photo

SKIN_SETS = ("fasseg_face_skin", "abdominal_skin", "hgr_hands_subset", "pratheepan_skin")


@dataclass(frozen=True)
class Agreement:
    """One photo of ``shape`` ``(H, W)``: ``pixels`` share of pixels with the same class (0-1, at the working size);
    each segmenter's depigmented fraction (0-1)."""

    name: str
    shape: tuple[int, int]
    pixels: float
    fraction_a: float
    fraction_b: float

    @property
    def fraction_diff_pp(self) -> float:
        """|fraction_a - fraction_b| in percentage points (0 when neither finds skin)."""
        a, b = (0.0 if np.isnan(f) else f for f in (self.fraction_a, self.fraction_b))
        return 100.0 * abs(a - b)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def _reshape(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop (aspect ratio 0.5-2) resized to a long side of 200-2400 px: photos of many working shapes."""
    h, w = rgb.shape[:2]
    ch, cw = max(16, int(h * rng.uniform(0.6, 1.0))), max(16, int(w * rng.uniform(0.6, 1.0)))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    crop = rgb[y:y + ch, x:x + cw]
    s = float(rng.uniform(200, 2400)) / max(ch, cw)
    size = (max(16, round(cw * s)), max(16, round(ch * s)))
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def agreement_photos(data_root: Path | None, n: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` photos ``(name, (H, W, 3) uint8 sRGB)``, in turn: a real skin photo, a real vitiligo photo
    (``data_root/real_vitiligo_dev``), synthetic lesions on a real skin photo, synthetic lesions on a procedural body
    part; each cropped and resized at random (seeded). Without ``data_root`` (or its sets) only procedural ones."""
    from ..synth.backgrounds import PROCEDURAL_PARTS, load_background, procedural_background
    from ..synth.render import render_sample

    rng = np.random.default_rng(seed)
    root = Path(data_root) if data_root is not None else None
    skin = [(img, root / "skin" / s / "masks" / f"{img.stem}.png") for s in SKIN_SETS
            for img in (_images(root / "skin" / s / "images") if root else [])]
    skin = [(i, m) for i, m in skin if m.is_file()]
    vitiligo = _images(root / "real_vitiligo_dev" / "images") if root else []
    kinds = ["skin", "vitiligo", "synthetic_on_skin", "procedural"]
    out: list[tuple[str, np.ndarray]] = []
    k = 0
    while len(out) < n:
        kind = kinds[k % len(kinds)]
        k += 1
        if kind == "skin" and skin:
            img, _ = skin[int(rng.integers(len(skin)))]
            out.append((f"skin/{img.name}", _reshape(read_rgb(img), rng)))
        elif kind == "vitiligo" and vitiligo:
            img = vitiligo[int(rng.integers(len(vitiligo)))]
            out.append((f"vitiligo/{img.name}", _reshape(read_rgb(img), rng)))
        elif kind == "synthetic_on_skin" and skin:
            img, mask = skin[int(rng.integers(len(skin)))]
            bg, bg_skin = load_background(img, mask)
            rgb, _, _ = render_sample(bg, bg_skin, rng)
            out.append((f"synthetic/{img.name}", _reshape(rgb, rng)))
        elif kind == "procedural":
            part = PROCEDURAL_PARTS[int(rng.integers(len(PROCEDURAL_PARTS)))]
            bg, bg_skin = procedural_background(part, 512, rng)
            rgb, _, _ = render_sample(bg, bg_skin, rng)
            out.append((f"procedural/{part}-{k}", _reshape(rgb, rng)))
    return out


def compare(a: Segmenter, b: Segmenter, photos: list[tuple[str, np.ndarray]], work_long_side: int = 1024
            ) -> list[Agreement]:
    """Each photo through both segmenters at the run's working size; one :class:`Agreement` per photo."""
    rows = []
    for name, rgb in photos:
        ca = segment_photo(rgb, a, work_long_side).classes
        cb = segment_photo(rgb, b, work_long_side).classes
        fa, fb = (fraction(*mask_counts(c, None)) for c in (ca, cb))
        rows.append(Agreement(name, rgb.shape[:2], float((ca == cb).mean()), fa, fb))
    return rows
