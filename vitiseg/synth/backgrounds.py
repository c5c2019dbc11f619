"""Backgrounds for synthetic lesions: real skin photos with skin masks, or procedural skin-toned body parts.

Real backgrounds come from a skin root laid out as ``ROOT/<set>/{images,masks,splits.json}`` (masks 0/255, 255 = skin).

**Split rule** (:func:`assign_split`): a background is in the split its ``splits.json`` key names when the key is
``train``/``val``/``test`` or ends in ``_train``/``_val``/``_test``. Backgrounds listed under other keys
(``frontal03`` in FASSEG, ``face``/``family`` in Pratheepan) get a split from a hash of ``<set>/<id>``
(bucket = first 8 hex digits of SHA-256 mod 100: < 70 train, < 85 val, else test). Sets that only have train and val
(abdominal, HGR) keep their val and move the train backgrounds with hash bucket < 15 to test. So a background is in
exactly one split, whatever the seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vitiseg.colour import ita_degrees, lab_to_rgb, rgb_to_lab
from vitiseg.io.images import read_mask, read_rgb

DEFAULT_SETS = ("fasseg_face_skin", "abdominal_skin", "hgr_hands_subset", "pratheepan_skin")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class BackgroundRef:
    """One real background photo and its skin mask."""

    set: str
    bg_id: str
    split: str
    image: Path
    mask: Path


def hash_bucket(set_name: str, bg_id: str) -> int:
    """Deterministic bucket 0..99 of a background (SHA-256 of ``<set>/<id>``)."""
    return int(hashlib.sha256(f"{set_name}/{bg_id}".encode()).hexdigest()[:8], 16) % 100


def assign_split(set_name: str, key: str, bg_id: str, set_has_test: bool) -> str:
    """Split of one background given the ``splits.json`` key it is listed under (see module docstring)."""
    k = key.lower()
    for s in SPLITS:
        if k == s or k.endswith("_" + s):
            if s == "train" and not set_has_test and hash_bucket(set_name, bg_id) < 15:
                return "test"
            return s
    b = hash_bucket(set_name, bg_id)
    return "train" if b < 70 else ("val" if b < 85 else "test")


def list_backgrounds(skin_root: str | Path, sets: tuple[str, ...] | list[str] = DEFAULT_SETS) -> list[BackgroundRef]:
    """All backgrounds of ``sets`` under ``skin_root``, sorted by (set, id).

    Raises FileNotFoundError if a set is missing."""
    root = Path(skin_root)
    out: list[BackgroundRef] = []
    for s in sets:
        d = root / s
        sp = d / "splits.json"
        if not sp.is_file():
            raise FileNotFoundError(f"skin set {s!r} not found: {sp} missing")
        splits = json.loads(sp.read_text(encoding="utf-8"))
        keys = [k.lower() for k in splits]
        has_test = any(k == "test" or k.endswith("_test") for k in keys) or not any(
            k == "train" or k.endswith("_train") for k in keys
        )
        images = {p.stem: p for p in (d / "images").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
        for key in sorted(splits):
            for bg in splits[key]:
                if bg not in images:
                    continue
                m = d / "masks" / f"{bg}.png"
                if not m.is_file():
                    continue
                out.append(BackgroundRef(s, bg, assign_split(s, key, bg, has_test), images[bg], m))
    out.sort(key=lambda r: (r.set, r.bg_id))
    return out


@lru_cache(maxsize=256)
def load_background(image: Path, mask: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a background: ``(rgb (H,W,3) uint8, skin (H,W) bool)``; the mask is resized (nearest) if sizes differ."""
    rgb = read_rgb(image)
    m = read_mask(mask) > 127
    if m.shape != rgb.shape[:2]:
        m = cv2.resize(m.astype(np.uint8), (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    rgb.setflags(write=False)
    m.setflags(write=False)
    return rgb, m


def random_square_crop(rgb: np.ndarray, skin: np.ndarray, size: int, rng: np.random.Generator,
                       min_skin: float = 0.08, tries: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Random square crop (side 55-100 % of the short side), resized to ``size`` x ``size``.

    The crop with the most skin among ``tries`` candidates is kept as soon as skin covers ``min_skin`` of it.
    Image: INTER_AREA when shrinking, INTER_CUBIC when enlarging; mask: nearest neighbour.
    """
    h, w = skin.shape
    short = min(h, w)
    best = None
    for _ in range(tries):
        side = int(round(short * rng.uniform(0.55, 1.0)))
        y0 = int(rng.integers(0, h - side + 1))
        x0 = int(rng.integers(0, w - side + 1))
        frac = float(skin[y0 : y0 + side, x0 : x0 + side].mean())
        if best is None or frac > best[0]:
            best = (frac, y0, x0, side)
        if frac >= min_skin:
            break
    _, y0, x0, side = best
    c_rgb = rgb[y0 : y0 + side, x0 : x0 + side]
    c_skin = skin[y0 : y0 + side, x0 : x0 + side]
    interp = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    out_rgb = cv2.resize(c_rgb, (size, size), interpolation=interp)
    out_skin = cv2.resize(c_skin.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    if rng.random() < 0.5:
        out_rgb, out_skin = out_rgb[:, ::-1], out_skin[:, ::-1]
    return np.ascontiguousarray(out_rgb), np.ascontiguousarray(out_skin)


def shift_skin_tone(rgb: np.ndarray, skin: np.ndarray, rng: np.random.Generator,
                    ita_range: tuple[float, float] = (-55.0, 5.0)) -> tuple[np.ndarray, dict[str, float] | None]:
    """Darken the skin of a background towards a sampled ITA in CIELAB, keeping its texture (more dark-skin examples).

    ``rgb``: ``(H, W, 3) uint8`` sRGB; ``skin``: ``(H, W) bool``. A target ITA is drawn from ``ita_range`` (degrees)
    and b* from U(14, 22) (brown / dark skin); the target L* follows from ITA = atan((L* - 50) / b*). Skin L* is scaled
    so that its median reaches the target (relative texture and shading contrast kept), a* and b* are shifted so their
    medians reach the targets (a* + U(0, 4)). Skin pixels take the shifted colour; just outside the skin the shift
    fades out (mask blurred with sigma 1.5 px), so no seam shows and non-skin pixels away from the border are unchanged. Skin already at or below the target ITA is left as it
    is. Returns ``(rgb, info)``; ``info`` = ``{"from_ita", "to_ita"}`` or ``None`` when nothing changed.
    """
    target = float(rng.uniform(*ita_range))
    b_t = float(rng.uniform(14.0, 22.0))
    da = float(rng.uniform(0.0, 4.0))
    if not skin.any():
        return rgb, None
    lab = rgb_to_lab(rgb).astype(np.float64)
    L0, a0, b0 = (float(v) for v in np.median(lab[skin], axis=0))
    current = ita_degrees(L0, b0)
    if current <= target or L0 <= 1.0:
        return rgb, None
    L_t = max(20.0, 50.0 + b_t * float(np.tan(np.radians(target))))
    new = np.empty_like(lab)
    new[..., 0] = lab[..., 0] * (L_t / L0)
    new[..., 1] = lab[..., 1] + da
    new[..., 2] = lab[..., 2] + (b_t - b0)
    shifted = lab_to_rgb(new).astype(np.float64)
    m = skin.astype(np.float32)
    w = np.maximum(m, cv2.GaussianBlur(m, (0, 0), 1.5))[..., None]  # skin fully shifted, soft edge outside it
    out = np.clip(np.round(rgb.astype(np.float64) * (1.0 - w) + shifted * w), 0, 255).astype(np.uint8)
    return out, {"from_ita": round(current, 2), "to_ita": round(target, 2)}


def resize_long_side_pair(rgb: np.ndarray, skin: np.ndarray, long_side: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize image and mask so that the long side is ``long_side`` (enlarging if needed; mask nearest)."""
    h, w = skin.shape
    s = long_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return (cv2.resize(rgb, size, interpolation=interp),
            cv2.resize(skin.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0)


# ----------------------------------------------------------------------------------------------------------------
# Procedural backgrounds (no external data)

PROCEDURAL_PARTS = ("face", "hand", "trunk", "limb", "foot", "neck")


def sample_skin_tone(rng: np.random.Generator) -> np.ndarray:
    """A healthy skin colour, CIELAB (L*, a*, b*), spanning ITA from about -50 (dark) to +60 (very light)."""
    L = rng.uniform(30.0, 75.0)
    b = rng.uniform(13.0, 24.0)
    a = rng.uniform(7.0, 16.0) - 0.05 * (L - 50.0)
    return np.array([L, a, b], np.float32)


def procedural_background(part: str, size: int, rng: np.random.Generator,
                          tone_lab: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A skin-toned body-part silhouette with texture on a plain backdrop: ``(rgb (S,S,3) uint8, skin (S,S) bool)``.

    ``part`` in :data:`PROCEDURAL_PARTS`. The face has holes for eyes and mouth (so periorificial lesions work);
    the hand has five fingers. Texture: low-frequency shading, fine mottling and a few dark hair strokes.
    """
    from vitiseg.synth.shapes import fractal_noise

    s = size
    m = np.zeros((s, s), np.uint8)
    c = s // 2
    if part == "face":
        cv2.ellipse(m, (c, int(s * 0.52)), (int(s * 0.30), int(s * 0.40)), 0, 0, 360, 1, -1)
        for ex in (c - int(s * 0.12), c + int(s * 0.12)):
            cv2.ellipse(m, (ex, int(s * 0.42)), (int(s * 0.06), int(s * 0.025)), 0, 0, 360, 0, -1)
        cv2.ellipse(m, (c, int(s * 0.72)), (int(s * 0.09), int(s * 0.03)), 0, 0, 360, 0, -1)
    elif part == "neck":
        cv2.rectangle(m, (int(s * 0.3), 0), (int(s * 0.7), s), 1, -1)
        cv2.ellipse(m, (c, s), (int(s * 0.48), int(s * 0.25)), 0, 0, 360, 1, -1)
    elif part == "hand":
        cv2.ellipse(m, (c, int(s * 0.65)), (int(s * 0.2), int(s * 0.22)), 0, 0, 360, 1, -1)
        cv2.rectangle(m, (int(s * 0.38), int(s * 0.75)), (int(s * 0.62), s), 1, -1)
        for i, (dx, ln) in enumerate([(-0.15, 0.30), (-0.05, 0.38), (0.05, 0.40), (0.15, 0.34)]):
            x = int(c + dx * s)
            cv2.line(m, (x, int(s * 0.55)), (x + int(dx * s * 0.3), int(s * (0.55 - ln))), 1, int(s * 0.07))
        cv2.line(m, (int(c - 0.18 * s), int(s * 0.7)), (int(c - 0.36 * s), int(s * 0.45)), 1, int(s * 0.08))
    elif part == "foot":
        cv2.ellipse(m, (c, int(s * 0.55)), (int(s * 0.22), int(s * 0.42)), 0, 0, 360, 1, -1)
    elif part == "trunk":
        cv2.rectangle(m, (int(s * 0.12), int(s * 0.05)), (int(s * 0.88), s), 1, -1)
        cv2.circle(m, (c, int(s * 0.6)), max(2, s // 60), 0, -1)  # navel
    elif part == "limb":
        pts = np.array([[int(s * 0.3), 0], [int(s * 0.7), 0], [int(s * 0.62), s], [int(s * 0.38), s]], np.int32)
        cv2.fillPoly(m, [pts], 1)
    else:
        raise ValueError(f"unknown procedural part {part!r}; choose from {PROCEDURAL_PARTS}")
    # organic outline
    warp = fractal_noise((s, s), s * 0.15, rng, octaves=2) * (s * 0.01)
    mf = cv2.GaussianBlur(m.astype(np.float32), (0, 0), max(1.0, s / 200)) + 0.02 * warp
    skin = mf > 0.5

    lab0 = tone_lab if tone_lab is not None else sample_skin_tone(rng)
    shade = fractal_noise((s, s), s * 0.5, rng, octaves=2)
    mott = fractal_noise((s, s), max(2.0, s * 0.02), rng, octaves=3)
    dist = cv2.distanceTransform(skin.astype(np.uint8), cv2.DIST_L2, 3)
    rim = np.clip(dist / (0.08 * s), 0, 1)  # rounded body: darker towards the silhouette edge
    L = lab0[0] + 4.0 * shade + 1.2 * mott - 10.0 * (1 - rim)
    a = lab0[1] + 1.0 * shade + 0.8 * mott
    b = lab0[2] + 0.8 * mott
    lab = np.stack([np.clip(L, 1, 99), a, b], -1).astype(np.float32)
    rgb = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB) * 255 + 0.5, 0, 255).astype(np.uint8)
    # hair strokes
    n_hair = int(rng.integers(0, 60))
    for _ in range(n_hair):
        y, x = int(rng.integers(0, s)), int(rng.integers(0, s))
        ang = rng.uniform(0, np.pi)
        ln = rng.uniform(0.01, 0.03) * s
        col = tuple(int(v) for v in rng.integers(20, 70, 3))
        cv2.line(rgb, (x, y), (int(x + ln * np.cos(ang)), int(y + ln * np.sin(ang))), col, 1, cv2.LINE_AA)
    back = np.array(rng.integers(30, 230, 3), np.uint8)
    bg = np.clip(back[None, None, :].astype(np.float32) + 6 * shade[..., None], 0, 255).astype(np.uint8)
    rgb = np.where(skin[..., None], rgb, bg)
    return np.ascontiguousarray(rgb), skin
