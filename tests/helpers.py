"""Shared test helpers (the one module every test imports them from; fixtures are in ``conftest.py``).

- Colour-keyed photos with exact class masks (:func:`key_photo`) and the :class:`KeySegmenter` test double.
- The design of the generated visits folder (:data:`VISITS_DESIGN`, written by :func:`write_visits`).
- A visits folder whose follow-ups were taken with a moved camera (:func:`write_tracking_visits`).
- Tiny random-weight U-Net model folders (:func:`tiny_network`, :func:`save_tiny_unet`) and a tiny training config.
- The synthetic 10-patient cohort worked out by hand (:func:`make_visits`) and the closed-form Wilson interval.
- Paths: the repository, ``../shared/data``; loading a script of ``scripts/`` as a module.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitiseg.config import NormaliseConfig

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FASSEG = SHARED_DATA / "skin" / "fasseg_face_skin"
needs_skin = pytest.mark.skipif(not FASSEG.is_dir(), reason="the skin sets of ../shared/data are absent")

# --------------------------------------------------------------------------------------- colour-keyed photos

BG = (40, 70, 160)  # blue-grey backdrop
SKIN = (196, 142, 112)  # medium skin tone
DEPIG = (246, 232, 226)  # milky-white patch


def key_photo(h: int, w: int, skin_box: tuple[int, int, int, int], depig_boxes: list[tuple[int, int, int, int]]
              ) -> tuple[np.ndarray, np.ndarray]:
    """A colour-keyed photo and its exact class mask: boxes are (y0, y1, x0, x1), depigmented boxes inside skin."""
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:] = BG
    cls = np.zeros((h, w), np.uint8)
    y0, y1, x0, x1 = skin_box
    rgb[y0:y1, x0:x1] = SKIN
    cls[y0:y1, x0:x1] = 1
    for y0, y1, x0, x1 in depig_boxes:
        rgb[y0:y1, x0:x1] = DEPIG
        cls[y0:y1, x0:x1] = 2
    return rgb, cls


class KeySegmenter:
    """Test double of the Segmenter contract: classifies pixels by the nearest key colour (exact on key photos).

    Its colour normalisation is ``none`` so that the key colours reach :meth:`predict` unchanged."""

    identity = {"name": "key", "kind": "test", "sha256": "0" * 64}
    colour_normalisation = NormaliseConfig(method="none")

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        cols = np.array([BG, SKIN, DEPIG], np.int32)
        d = ((rgb[:, :, None, :].astype(np.int32) - cols[None, None]) ** 2).sum(-1)
        return d.argmin(-1).astype(np.uint8)


def save(path: Path, rgb: np.ndarray) -> None:
    """Write ``rgb`` losslessly (format from the suffix), creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


# Exact design of the generated visits folder: (patient, visit) -> region -> depigmented boxes.
# Photos are 100 x 120 px; skin box 80 x 100 = 8000 px.
SKIN_BOX = (10, 90, 10, 110)
VISITS_DESIGN = {
    ("P01", "v1"): {"face": [(10, 50, 10, 110)], "hands": [(10, 30, 10, 110)], "trunk": [(10, 90, 10, 30)]},
    ("P01", "v2"): {"face": [(10, 20, 10, 110)], "hands": [(10, 20, 10, 70)], "trunk": [(10, 90, 10, 20)]},
    ("P02", "v1"): {"face": [(10, 90, 10, 110)], "hands": []},
    ("P02", "v2"): {"face": [(10, 90, 10, 50)], "hands": []},
}
VISITS_CSV = ("patient_id,visit_id,date,dlqi\nP01,v1,2026-01-05,12\nP01,v2,2026-04-01,5\n"
              "P02,v1,2026-01-07,20\nP02,v2,2026-04-02,18\n")


def write_visits(root: Path) -> Path:
    """A small visits folder of colour-keyed PNG photos following the folder convention (PNG = lossless)."""
    for (pid, vid), regions in VISITS_DESIGN.items():
        for region, boxes in regions.items():
            rgb, _ = key_photo(100, 120, SKIN_BOX, boxes)
            save(root / pid / vid / f"{region}.png", rgb)
    (root / "visits.csv").write_text(VISITS_CSV)
    return root


# ------------------------------------------------------------------------------ follow-ups with camera motion

TRACK_N = 256
_YY, _XX = np.mgrid[0:TRACK_N, 0:TRACK_N]
TRACK_SKIN = ((_YY - 128) / 110.0) ** 2 + ((_XX - 128) / 90.0) ** 2 < 1
TRACK_A, TRACK_B = (110, 115), (185, 140)  # centres of the two baseline patches (y, x)
_FOLLICLES = [(185, 140), (175, 128), (195, 150), (178, 152)]


def disc(c: tuple[int, int], r: float) -> np.ndarray:
    """(TRACK_N, TRACK_N) bool disc of radius ``r`` around ``c`` (y, x)."""
    return (_YY - c[0]) ** 2 + (_XX - c[1]) ** 2 <= r * r


# The scene (baseline frame) at each visit: patch A shrinks from its border, patch B gets follicular islands at v3.
TRACK_DEPIGMENTED = {"v1": disc(TRACK_A, 40) | disc(TRACK_B, 26),
                     "v2": disc(TRACK_A, 30) | disc(TRACK_B, 26),
                     "v3": disc(TRACK_A, 20) | (disc(TRACK_B, 26) & ~np.any([disc(c, 6) for c in _FOLLICLES], 0))}


def track_photo(depig: np.ndarray, H: np.ndarray | None) -> np.ndarray:
    """A key-coloured photo of the tracking scene with skin texture (:class:`KeySegmenter` stays exact), seen
    through the homography ``H`` (None: the baseline camera)."""
    import cv2

    from vitiseg.synth.shapes import smooth_noise

    cls = np.where(TRACK_SKIN, np.where(depig & TRACK_SKIN, 2, 1), 0)
    rgb = np.array([BG, SKIN, DEPIG], np.float32)[cls]
    rng = np.random.default_rng(100)  # the texture belongs to the scene: the same at every visit
    tex = 9 * smooth_noise((TRACK_N, TRACK_N), 5, rng) + 5 * smooth_noise((TRACK_N, TRACK_N), 2, rng)
    rgb = np.clip(rgb + tex[..., None], 0, 255).astype(np.uint8)
    if H is not None:
        rgb = cv2.warpPerspective(rgb, H, (TRACK_N, TRACK_N), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
    return rgb


def write_tracking_visits(root: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Visits folder for follow-up tracking; returns it and the camera motion of each follow-up visit.

    P01 hands at v1-v3 (v2, v3 with a moved camera; see :data:`TRACK_DEPIGMENTED`), P01 trunk only at v2 (no
    baseline), P02 hands at v1 and, at v2, a photo of another body part (cannot be aligned).
    """
    from vitiseg.synth.trial.motion import sample_camera_motion

    motions = {v: sample_camera_motion(TRACK_N, TRACK_N, np.random.default_rng(i), 0.7)
               for i, v in enumerate(("v2", "v3"))}
    for v, dep in TRACK_DEPIGMENTED.items():
        save(root / "P01" / v / "hands.png", track_photo(dep, motions.get(v)))
    save(root / "P01" / "v2" / "trunk.png", track_photo(TRACK_DEPIGMENTED["v1"], None))
    save(root / "P02" / "v1" / "hands.png", track_photo(TRACK_DEPIGMENTED["v1"], None))
    other = np.zeros((TRACK_N, TRACK_N, 3), np.uint8)
    other[:] = BG
    other[20:80, 150:240] = SKIN
    save(root / "P02" / "v2" / "hands.png", other)
    return root, motions


def sample_photos(n: int, seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """``n`` realistic photos of different sizes (real skin and vitiligo photos of ../shared/data, synthetic lesions;
    procedural ones only without the data): :func:`vitiseg.evaluation.backend_agreement.agreement_photos`."""
    from vitiseg.evaluation.backend_agreement import agreement_photos

    return agreement_photos(SHARED_DATA if SHARED_DATA.is_dir() else None, n, seed)


# ------------------------------------------------------------------------------------ synthetic datasets


def fake_skin_root(root: Path) -> Path:
    """Two fake skin sets of procedural 96-px backgrounds (JPEG photos, 0/255 PNG masks, ``splits.json``):
    ``fake_faces`` (train 6, val 3) and ``fake_hands`` (one group of 5, split by hash)."""
    import json

    from vitiseg.io.images import write_jpeg, write_png
    from vitiseg.synth import backgrounds as bgm

    rng = np.random.default_rng(0)
    layouts = {"fake_faces": ({"train": 6, "val": 3}, "face"), "fake_hands": ({"group_a": 5}, "hand")}
    for set_name, (keys, part) in layouts.items():
        d = root / set_name
        splits = {}
        k = 0
        for key, n in keys.items():
            splits[key] = []
            for _ in range(n):
                rgb, skin = bgm.procedural_background(part, 96, rng)
                bid = f"{set_name}_{k:03d}"
                write_jpeg(d / "images" / f"{bid}.jpg", rgb, 95)
                write_png(d / "masks" / f"{bid}.png", skin.astype(np.uint8) * 255)
                splits[key].append(bid)
                k += 1
        (d / "splits.json").write_text(json.dumps(splits))
    return root


def synth_dataset(skin_root: Path, out: Path, n: int, *extra: str) -> int:
    """``vitiseg synth dataset`` of ``n`` 64-px samples, seed 3, on :func:`fake_skin_root`; returns the exit code."""
    from vitiseg.cli import main as vitiseg_main

    return vitiseg_main(["synth", "dataset", "--skin-root", str(skin_root), "--out", str(out), "--n", str(n),
                         "--seed", "3", "--size", "64", "--sets", "fake_faces,fake_hands", *extra])


# ------------------------------------------------------------------------------------------- tiny U-Nets

SMALL_DECODER = (32, 16, 16, 8, 8)


def small_arch():
    from vitiseg.segmentation.artifact import ArchConfig

    return ArchConfig(encoder="mobilenet_v2", decoder_channels=SMALL_DECODER)


def tiny_network(seed: int = 0, bn_stats: bool = True, class_bias: tuple[float, float, float] = (0.0, 0.0, 0.0),
                 head_scale: float = 1.0):
    """A small random-weight U-Net in eval mode.

    ``bn_stats``: every BatchNorm gets non-default running mean, variance and batch counter (so a save/load that drops
    or rounds them changes the predictions). ``head_scale`` multiplies the segmentation head's weights (a random
    network's logits barely vary over a photo) and ``class_bias`` is added to its bias per class."""
    import torch

    from vitiseg.segmentation.artifact import build_network

    torch.manual_seed(seed)
    net = build_network(small_arch())
    g = torch.Generator().manual_seed(seed + 1000)
    with torch.no_grad():
        if bn_stats:
            for k, m in enumerate(x for x in net.modules() if isinstance(x, torch.nn.BatchNorm2d)):
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(7 + k)
        net.segmentation_head[0].weight *= head_scale
        net.segmentation_head[0].bias += torch.tensor(class_bias)
    return net.eval()


def save_tiny_unet(model_dir: Path, net=None, **config: Any) -> str:
    """Save ``net`` (default :func:`tiny_network`) as a model folder; ``config`` fields override the ModelConfig
    defaults (name ``tiny``, ``input_long_side`` 128). Returns the weights' SHA-256."""
    from vitiseg.segmentation.artifact import ModelConfig, save_artifact

    cfg = ModelConfig(**{"name": "tiny", "architecture": small_arch(), "input_long_side": 128, **config})
    return save_artifact(model_dir, tiny_network() if net is None else net, cfg)


def tiny_train_config(data: Path, **over: Any):
    """A two-epoch CPU training config of the small U-Net on a procedural ``classes`` dataset at ``data``."""
    from vitiseg.training.config import TrainConfig

    d = {
        "name": "tiny",
        "seed": 0,
        "threads": 1,
        "device": "cpu",
        "input_long_side": 64,
        "architecture": {"encoder": "mobilenet_v2", "decoder_channels": list(SMALL_DECODER)},
        "data": {
            "crop_size": 64,
            "sources": [{"name": "proc", "kind": "classes", "path": str(data), "train_splits": ["train"],
                         "val_splits": ["val"]}],
        },
        "augment": {"scale_range": [1.0, 1.0], "blur_prob": 0.0},
        "optim": {"batch_size": 4, "epochs": 2, "steps_per_epoch": 8, "warmup_steps": 0, "lr": 0.003,
                  "schedule": "constant"},
        "val": {"max_images_per_source": 2},
    }
    d.update(over)
    return TrainConfig.model_validate(d)


# ------------------------------------------------------------------------- the hand-worked 10-patient cohort

NAN = float("nan")
PATIENTS = [f"P{i:02d}" for i in range(1, 11)]
VISITS = ["baseline", "week12", "week24"]
# F-VASI per visit (None = no row: patient lost; NAN = row without a score, e.g. every face photo failed)
F = {
    "baseline": [1.00, 2.00, 0.50, 1.60, 0.80, 2.40, 1.20, 0.00, 1.00, 3.00],
    "week12": [0.40, 1.50, 0.50, 0.40, 0.90, 1.20, NAN, 0.00, 0.10, 2.10],
    "week24": [0.20, 1.00, 0.25, 0.16, 0.60, 0.48, 0.60, 0.10, None, 0.90],
}
T = {
    "baseline": [10, 20, 5, 16, 8, 24, 12, 2, 10, 30],
    "week12": [6, 15, 5, 8, 9, 12, 10, 2, 4, 20],
    "week24": [4, 10, 2.5, 6, 6, 10, 6, 1, None, 12],
}
PARTIAL = {("P10", "week12"), ("P04", "week24")}
DLQI = {
    "baseline": ["12", "8", "5", "15", "3", "20", "10", "6", "9", "14"],
    "week12": ["8", "8", "4", "10", "4", "12", "", "6", "5", "10"],
    "week24": ["5", "6", "3", "6", "3", "8", "7", "4", None, "9"],
}
VNS = {"baseline": [""] * 10, "week12": ["3", "2", "3", "4", "2", "3", "", "3", "5", "3"],
       "week24": ["4", "3", "3", "5", "2", "4", "4", "3", None, "4"]}


def make_visits(visit_ids: dict[str, str] | None = None) -> pd.DataFrame:
    """The cohort as a run folder's visits.csv (all cells text, like the pipeline writes it).

    ``visit_ids`` renames visits for every patient alike (``{"week12": "w12"}``); per-patient ids (dates) are set in
    the tests that need them.
    """
    rows = []
    for i, p in enumerate(PATIENTS):
        for k, v in enumerate(VISITS):
            f = F[v][i]
            if f is None:
                continue
            t = T[v][i]
            partial = (p, v) in PARTIAL
            rows.append({
                "patient_id": p, "visit_id": (visit_ids or {}).get(v, v), "visit_index": str(k),
                "date": "", "f_vasi": "" if math.isnan(f) else repr(f), "t_vasi": repr(float(t)),
                "t_vasi_partial": str(partial), "missing_regions": "feet" if partial else "",
                "n_photos": "5", "n_failed": "1" if math.isnan(f) else "0",
                "dlqi": DLQI[v][i], "vns": VNS[v][i], "notes": "fine" if k == 0 else "",
            })
    return pd.DataFrame(rows)


def wilson_closed_form(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval written out in closed form (independent of vitiseg)."""
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# ------------------------------------------------------------------------------------------------ scripts


def load_script(relpath: str) -> ModuleType:
    """Import a repository script (e.g. ``scripts/train_benchmark.py``) as a module, without running its main."""
    path = REPO / relpath
    name = path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


class PresetSegmenter:
    """Test double of the Segmenter contract: returns the preset class mask of the photo's shape (no colour
    normalisation), so a photo can be predicted any number of times."""

    identity = {"name": "preset", "kind": "test"}
    colour_normalisation = NormaliseConfig(method="none")

    def __init__(self, preds: list[np.ndarray]) -> None:
        self.preds = {p.shape: p for p in preds}
        assert len(self.preds) == len(preds), "one preset per shape"

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self.preds[rgb.shape[:2]]


def class_mask(h: int, w: int, skin: tuple[slice, slice], depig: tuple[slice, slice]) -> np.ndarray:
    """``(h, w) uint8`` classes: 1 in ``skin``, then 2 in ``depig``, 0 elsewhere."""
    m = np.zeros((h, w), np.uint8)
    m[skin] = 1
    m[depig] = 2
    return m


def assert_config_error(load: Any, path: Path, text: str, match: str) -> str:
    """Write ``text`` to ``path`` and check that ``load(path)`` raises a ConfigError matching ``match``; returns its
    message."""
    from vitiseg.config import ConfigError

    path.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load(path)
    return str(e.value)
