"""Stand-in photos that show their body region, for cohorts a person looks at (the ``example`` preset).

The research skin sets hold faces (FASSEG), web portraits and group photos (Pratheepan), hands and forearms (HGR) and
abdomens (Abdominal Skin Dataset): no legs, no feet. The presets made for measurement (``ruxolitinib_wk12``,
``small``) paint all seven regions on whatever set stands in (a hand for the feet, an abdomen for the legs). For the
``example`` preset each region photo must show that region, so (chosen by looking at every test/val photo):

* **face**: FASSEG frontal faces, as in every preset (TRuE-V facial area found by FaceMesh).
* **neck**: a crop below the face of Pratheepan portraits whose neck is bare and in the frame (``NECK_IDS``): from
  just above the chin (menton, FaceMesh landmark 152) down 0.6 face heights (chin to forehead top, landmark 10), 1.3
  face widths wide, centred on the face, clipped to the photo. A crop with less than half of it inside the photo or
  less than 40 % skin is refused.
* **hands**: HGR1 photos, a hand held in front of the body (``HAND_IDS``: every test/val ``_hgr1_`` photo).
* **upper_limbs**: HGR2B photos of a raised arm, cropped to the forearm and elbow below the hand (``ARM_IDS``:
  every test/val ``_hgr2B_`` photo): rows from ``FOREARM_START`` of the arm's height down, columns around the arm.
* **trunk**: abdomens without text, watermarks, tattoos, collages, other hands or extreme close-ups (``TRUNK_IDS``).
* **lower_limbs**, **feet**: no photo of them exists in the sets, so the example has none. Its visits are scored
  without them: T-VASI is flagged partial (a lower bound), exactly as for a real visit where they were not
  photographed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from vitiseg.synth.backgrounds import BackgroundRef, list_backgrounds, load_background

NECK_IDS = ("prat_00003", "prat_00004", "prat_00013", "prat_00025", "prat_00031")
TRUNK_IDS = ("abd_026", "abd_098", "abd_099", "abd_127", "abd_211", "abd_231", "abd_303", "abd_437", "abd_517",
             "abd_522", "abd_549", "abd_571", "abd_587", "abd_620")
NECK_TOP, NECK_BOTTOM, NECK_HALF_WIDTH = -0.12, 0.6, 0.65  # in face heights below the chin / face widths
MIN_NECK_SKIN = 0.4  # share of the crop that must be skin
MIN_NECK_IN_FRAME = 0.5  # share of the planned crop that must lie inside the photo
FOREARM_START = 0.42  # share of the arm's height (from its top, the hand) where the forearm crop begins
ARM_MARGIN = 0.15  # horizontal margin around the arm, share of the photo's width


@dataclass(frozen=True)
class StandIn:
    """Which photos stand in for a region: a skin set, optionally only some of its photos (``ids``; id substring
    ``id_contains``), and a crop (``""``, ``"neck"`` or ``"forearm"``)."""

    set: str
    ids: tuple[str, ...] | None = None
    id_contains: str = ""
    crop: str = ""

    def admits(self, ref: BackgroundRef) -> bool:
        return ref.set == self.set and (self.ids is None or ref.bg_id in self.ids) and self.id_contains in ref.bg_id


EXAMPLE_STANDINS: dict[str, StandIn] = {
    "face": StandIn("fasseg_face_skin"),
    "neck": StandIn("pratheepan_skin", ids=NECK_IDS, crop="neck"),
    "hands": StandIn("hgr_hands_subset", id_contains="_hgr1_"),
    "upper_limbs": StandIn("hgr_hands_subset", id_contains="_hgr2B_", crop="forearm"),
    "trunk": StandIn("abdominal_skin", ids=TRUNK_IDS),
}
STANDIN_TABLES: dict[str, dict[str, StandIn]] = {"example": EXAMPLE_STANDINS}


def neck_crop(rgb: np.ndarray, skin: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the neck below the largest face FaceMesh finds, or None (no face, crop cut by the
    photo's edge, too little skin). ``rgb``: ``(H, W, 3) uint8``; ``skin``: ``(H, W) bool``."""
    from vitiseg.face import detect_faces

    faces = detect_faces(rgb)
    if not faces:
        return None
    lm = faces[0][:, :2]
    chin, top = lm[152], lm[10]
    fh = float(np.linalg.norm(chin - top))
    fw = float(lm[:, 0].max() - lm[:, 0].min())
    cx = float(lm[:, 0].min() + lm[:, 0].max()) / 2
    y0, y1 = round(chin[1] + NECK_TOP * fh), round(chin[1] + NECK_BOTTOM * fh)
    x0, x1 = round(cx - NECK_HALF_WIDTH * fw), round(cx + NECK_HALF_WIDTH * fw)
    h, w = skin.shape
    planned = (y1 - y0) * (x1 - x0)
    y0, y1, x0, x1 = max(0, y0), min(h, y1), max(0, x0), min(w, x1)  # portraits often end below the chin
    if y1 <= y0 or x1 <= x0 or (y1 - y0) * (x1 - x0) < MIN_NECK_IN_FRAME * planned:
        return None
    if skin[y0:y1, x0:x1].mean() < MIN_NECK_SKIN:
        return None
    return y0, y1, x0, x1


def forearm_crop(skin: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` of the forearm and elbow of a raised arm (hand at the top), or None without skin."""
    ys, xs = np.nonzero(skin)
    if not len(ys):
        return None
    h, w = skin.shape
    y0 = int(ys.min() + FOREARM_START * (ys.max() - ys.min()))
    sub = np.nonzero(skin[y0:].any(axis=0))[0]
    if not len(sub):
        return None
    m = round(ARM_MARGIN * w)
    return y0, h, max(0, int(sub.min()) - m), min(w, int(sub.max()) + 1 + m)


@lru_cache(maxsize=64)
def standin_background(image: Path, mask: Path, crop: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A stand-in photo and its skin mask, cropped as ``crop`` says: ``(rgb (h, w, 3) uint8, skin (h, w) bool)``, or
    None when the crop is refused. Cached: each photo is cropped once per process."""
    rgb, skin = load_background(image, mask)
    if not crop:
        return rgb, skin
    box = neck_crop(rgb, skin) if crop == "neck" else forearm_crop(skin) if crop == "forearm" else None
    if box is None:
        return None
    y0, y1, x0, x1 = box
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), np.ascontiguousarray(skin[y0:y1, x0:x1])


def standin_pools(skin_root: str | Path, standins: dict[str, StandIn],
                  splits: tuple[str, ...] = ("test", "val")) -> dict[str, list[BackgroundRef]]:
    """Per region, the photos of ``splits`` (default test/val) a stand-in admits whose crop succeeds, sorted by id;
    ValueError when a region has none."""
    sets = tuple(sorted({s.set for s in standins.values()}))
    refs = [r for r in list_backgrounds(skin_root, sets) if r.split in splits]
    pools = {}
    for region, s in standins.items():
        pools[region] = [r for r in refs if s.admits(r) and standin_background(r.image, r.mask, s.crop) is not None]
        if not pools[region]:
            raise ValueError(f"no {'/'.join(splits)} photo of {s.set} under {skin_root} can stand in for {region}")
    return pools
