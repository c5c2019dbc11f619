"""Training / evaluation data sources for the U-Net, with labels that may be partial.

Every sample's label is a *set-valued* target: an ``(H, W) uint8`` bit mask of the classes the pixel may belong to
(bit 0 = background, bit 1 = healthy skin, bit 2 = depigmented skin). A fully labelled pixel has one bit set; a
pixel known to be "not depigmented" has bits 0|1 (= 3); an unknown pixel has all bits (= 7, ignored by the loss).
The loss (:mod:`.loss`) maximises the probability of the allowed set, so one loss serves all sources:

- ``classes``: ``DIR/images/*.jpg|png`` + ``DIR/masks/<stem>.png`` with 0/1/2 (``vitiseg synth dataset``);
  optional ``DIR/index.csv`` (columns ``id``, ``split``) gives the split of each sample.
- ``skin``: ``DIR/images`` + ``DIR/masks`` with 0/255 (255 = skin) of *normal* skin photos: 255 -> healthy skin,
  0 -> background. Split train/val/test from ``DIR/splits.json`` by :func:`skin_splits` (the synthetic generator's
  rule for its backgrounds).
- ``lesion``: ``DIR/images`` + ``DIR/masks`` with 0/255 (255 = depigmented lesion, coarse polygons): 255 ->
  depigmented, 0 -> "background or healthy skin" (3). Split by source photo (see :func:`source_group`).
- ``yolo``: ``DIR/images`` + ``DIR/labels/<stem>.txt`` YOLO-seg polygons (``cls x1 y1 x2 y2 ...``, normalised);
  every polygon is a lesion; same labelling and split as ``lesion``.

Images are read as ``(H, W, 3) uint8`` RGB (:func:`vitiseg.io.images.read_rgb`) and colour-normalised with the
:func:`vitiseg.colour.normalise` settings that the model records in its ``config.json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field

from ..colour import normalise
from ..config import NormaliseConfig, StrictModel
from ..io.images import IMAGE_SUFFIXES, read_mask, read_rgb, write_jpeg, write_png
from ..io.tables import write_csv_rows
from ..synth.backgrounds import SPLITS, assign_split

log = logging.getLogger(__name__)

BG_BIT, SKIN_BIT, DEPIG_BIT = 1, 2, 4
UNKNOWN = BG_BIT | SKIN_BIT | DEPIG_BIT  # 7
NOT_DEPIG = BG_BIT | SKIN_BIT  # 3


SourceKind = Literal["classes", "skin", "lesion", "yolo"]


class SourceConfig(StrictModel):
    """One data source in a training config (``data.sources`` list)."""

    name: str
    kind: SourceKind
    path: str
    weight: float = Field(1.0, ge=0.0)
    # classes: split column values of index.csv; skin: keys of splits.json. Empty = every sample.
    train_splits: list[str] = []
    val_splits: list[str] = []
    test_splits: list[str] = []
    # lesion / yolo: fraction of *source photos* held out for validation (deterministic by hash of the group key)
    val_fraction: float = Field(0.3, ge=0.0, lt=1.0)
    split_seed: int = 0
    max_samples: int | None = Field(None, gt=0)
    # skin: probability that a training photo's skin is first re-toned to a tone-balanced ITA, lighter or darker
    # (vitiseg.synth.tones.tone_augment), so the healthy-skin class sees every skin tone; 0 = never (no random draw,
    # so batches are those of a config without the key). Ignored by the other kinds.
    tone_aug: float = Field(0.0, ge=0.0, le=1.0)


@dataclass(frozen=True)
class Sample:
    """One image with its label file. ``group`` = source photo (samples of a group never straddle splits)."""

    id: str
    image: Path
    label: Path | None
    kind: SourceKind
    source: str
    group: str


def source_group(stem: str) -> str:
    """Source-photo key of a Roboflow export name: the text between the first '-' and '.rf.' (else the stem).

    ``0108946f-32c70e1a_jpg.rf.7e48...`` -> ``32c70e1a_jpg``; augmented copies of one photo share it.
    """
    m = re.match(r"^[^-]*-(.*?)\.rf\.", stem)
    return m.group(1) if m else stem


def _images(d: Path) -> dict[str, Path]:
    if not d.is_dir():
        raise FileNotFoundError(f"image folder not found: {d}")
    return {p.stem: p for p in sorted(d.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def _paired(root: Path, label_dir: str, label_suffix: str, kind: SourceKind, source: str) -> list[Sample]:
    imgs = _images(root / "images")
    out = []
    for stem, p in imgs.items():
        lab = root / label_dir / f"{stem}{label_suffix}"
        if not lab.is_file():
            if kind == "yolo":  # an image without a label file has no lesion
                lab = None
            else:
                log.warning("%s: no mask for %s; skipped", source, p.name)
                continue
        group = source_group(stem) if kind in ("lesion", "yolo") else stem
        out.append(Sample(stem, p, lab, kind, source, group))
    return out


def group_val_set(groups: list[str], val_fraction: float, seed: int) -> set[str]:
    """Deterministic group split: groups sorted by SHA-256 of ``f"{seed}:{group}"``; the first ``round(n*f)`` are val."""
    uniq = sorted(set(groups), key=lambda g: hashlib.sha256(f"{seed}:{g}".encode()).hexdigest())
    n_val = int(round(len(uniq) * val_fraction))
    if val_fraction > 0 and len(uniq) > 1:
        n_val = min(max(n_val, 1), len(uniq) - 1)
    return set(uniq[:n_val])


def _by_split(samples: list[Sample], split_of: dict[str, str], src: SourceConfig) -> dict[str, list[Sample]]:
    """Assign samples to train/val/test by their named split; empty ``train_splits`` = all not in val/test."""
    by: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    for s in samples:
        sp = split_of.get(s.id, "")
        if sp in src.val_splits:
            by["val"].append(s)
        elif sp in src.test_splits:
            by["test"].append(s)
        elif (not src.train_splits) or sp in src.train_splits:
            by["train"].append(s)
    return by


def skin_splits(root: Path) -> dict[str, str]:
    """``{stem: train|val|test}`` of a skin set from its ``splits.json``, by the rule the synthetic generator uses for
    its backgrounds (:func:`vitiseg.synth.backgrounds.assign_split`), so a skin photo held out here (``test``) is never
    the background of a synthetic training sample either. Empty when there is no ``splits.json``.
    """
    sj = root / "splits.json"
    if not sj.is_file():
        return {}
    splits = json.loads(sj.read_text(encoding="utf-8"))
    keys = [k.lower() for k in splits]
    has_test = any(k == "test" or k.endswith("_test") for k in keys) or not any(
        k == "train" or k.endswith("_train") for k in keys
    )
    out = {}
    for key in sorted(splits):
        for st in splits[key]:
            out[str(st)] = assign_split(root.name, key, str(st), has_test)
    assert set(out.values()) <= set(SPLITS)
    return out


def list_samples(src: SourceConfig) -> dict[str, list[Sample]]:
    """Samples of a source by split: ``{"train": [...], "val": [...], "test": [...]}`` (lists may be empty)."""
    root = Path(src.path)
    if src.kind == "classes":
        samples = _paired(root, "masks", ".png", "classes", src.name)
        split_of: dict[str, str] = {}
        idx = root / "index.csv"
        if idx.is_file():
            with idx.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    split_of[str(row["id"])] = str(row.get("split", ""))
        by = _by_split(samples, split_of, src)
    elif src.kind == "skin":
        samples = _paired(root, "masks", ".png", "skin", src.name)
        split_of = skin_splits(root)
        by = _by_split(samples, split_of, src)
    else:
        if src.kind == "lesion":
            samples = _paired(root, "masks", ".png", "lesion", src.name)
        else:
            samples = _paired(root, "labels", ".txt", "yolo", src.name)
        val_groups = group_val_set([s.group for s in samples], src.val_fraction, src.split_seed)
        by = {
            "train": [s for s in samples if s.group not in val_groups],
            "val": [s for s in samples if s.group in val_groups],
            "test": [],
        }
    if src.max_samples is not None:
        by = {k: v[: src.max_samples] for k, v in by.items()}
    return by


def rasterise_yolo(label: Path | None, h: int, w: int) -> np.ndarray:
    """YOLO-seg polygon file -> ``(h, w) uint8`` lesion mask (255 inside any polygon). ``None`` -> all zeros."""
    m = np.zeros((h, w), dtype=np.uint8)
    if label is None:
        return m
    for line in label.read_text(encoding="utf-8").splitlines():
        vals = line.split()
        if len(vals) < 7:
            continue
        xy = np.asarray([float(v) for v in vals[1:]], dtype=np.float64).reshape(-1, 2)
        pts = np.round(xy * np.array([w, h])).astype(np.int32)
        cv2.fillPoly(m, [pts], 255)
    return m


def load_target(sample: Sample, h: int, w: int) -> np.ndarray:
    """Set-valued target ``(h, w) uint8`` (bit mask, see module doc) of a sample whose image is ``h x w``."""
    if sample.kind == "yolo":
        lesion = rasterise_yolo(sample.label, h, w)
        return np.where(lesion > 127, DEPIG_BIT, NOT_DEPIG).astype(np.uint8)
    assert sample.label is not None
    m = read_mask(sample.label)
    if m.ndim == 3:
        m = m[..., 0]
    if m.shape != (h, w):
        raise ValueError(f"mask {sample.label} is {m.shape}, image is {(h, w)}")
    if sample.kind == "classes":
        if m.max() > 2:
            raise ValueError(f"class mask {sample.label} has values > 2")
        return (np.uint8(1) << m).astype(np.uint8)
    if sample.kind == "skin":
        return np.where(m > 127, SKIN_BIT, BG_BIT).astype(np.uint8)
    return np.where(m > 127, DEPIG_BIT, NOT_DEPIG).astype(np.uint8)


def load_sample(sample: Sample, norm: NormaliseConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(rgb, target)``: colour-normalised ``(H, W, 3) uint8`` RGB and its ``(H, W) uint8`` bit-mask target."""
    rgb = normalise(read_rgb(sample.image), norm)
    return rgb, load_target(sample, *rgb.shape[:2])


def write_procedural_dataset(out: str | Path, n: int = 8, size: int = 64, seed: int = 0) -> Path:
    """Write a tiny ``classes`` dataset (for tests and the quick benchmark): ``out/{images,masks}`` + ``index.csv``.

    Each ``size x size`` photo has a textured blue-grey background (0), a brown skin ellipse (1) and 1-3 pale
    elliptical patches on it (2); the skin tone varies per image. Split: the last quarter of the ids is ``val``.
    """
    root = Path(out)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = []
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(n):
        bg = np.array([90, 110, 140], np.float32) + rng.normal(0, 12, (size, size, 3)).astype(np.float32)
        cls = np.zeros((size, size), np.uint8)
        cy, cx = rng.uniform(0.35, 0.65, 2) * size
        ry, rx = rng.uniform(0.25, 0.4, 2) * size
        skin = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        cls[skin] = 1
        for _ in range(int(rng.integers(1, 4))):
            py = cy + rng.uniform(-0.5, 0.5) * ry
            px = cx + rng.uniform(-0.5, 0.5) * rx
            r = rng.uniform(0.1, 0.3) * min(ry, rx)
            cls[skin & (((yy - py) ** 2 + (xx - px) ** 2) <= r * r)] = 2
        tone = rng.uniform(0.45, 1.0)
        img = bg.copy()
        img[cls == 1] = np.array([200, 140, 110], np.float32) * tone
        img[cls == 2] = np.array([238, 226, 218], np.float32)
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        sid = f"proc_{i:04d}"
        write_jpeg(root / "images" / f"{sid}.jpg", img, quality=95)
        write_png(root / "masks" / f"{sid}.png", cls)
        rows.append({"id": sid, "split": "val" if i >= n - max(1, n // 4) else "train"})
    write_csv_rows(rows, ["id", "split"], root / "index.csv")
    return root
