"""``vitiseg synth cohort``: a synthetic visits folder whose true F-VASI / T-VASI follow a prescribed trial outcome.

Two steps:

1. **Plan** (:func:`plan_cohort`): per patient and visit, target depigmented fractions for the 7 regions, solved so that
   the cohort statistics hit the preset's published figures *exactly on the targets* (medians by bisection, responder
   rates by construction, with every patient's change kept >= 0.02 away from a responder threshold so the small
   rendering error can never flip a flag).
2. **Render** (:func:`generate_cohort`): each region photo is one background (a real skin photo from the test/val
   splits, or a procedural body part) carrying one lesion layout per patient and region; each visit re-photographs it
   (small pose jitter, new lighting / camera) and thresholds the same priority field for that visit's target, so
   lesions shrink from their borders and pigment islands grow around follicles between visits (repigmentation).
   The threshold is bisected until ``|rendered fraction - target| <= 0.001 * target + 2 / skin_px`` (stated render
   tolerance). **Truth is then recomputed from the rendered masks only**: fraction = class-2 px / skin px pooled over
   the region's photos, F-VASI = 3 * face fraction, T-VASI = sum over regions of hand units * fraction
   (``configs/regions.yaml`` via :func:`vitiseg.config.load_regions`).

Face: TRuE-V facial area (real backgrounds). F-VASI as the trials define it, and as ``vitiseg run`` measures it with
the default ``face.area: truev``, counts only the facial area of :func:`vitiseg.face.facial_area` (forehead to the
hairline, cheeks to the jawline and tragus, nose; lips, eyelids, eyes, ears, neck and scalp excluded). So for the
``face_front`` photo:

* the face background is kept only if FaceMesh finds the facial area on it (view ``front``) with at least
  ``MIN_AREA_SKIN_SHARE`` of its skin inside; otherwise another FASSEG face is drawn (deterministically, same rng);
* lesions are painted on all skin of the photo (lips, eyelids, neck and ears included, as in real patients), but the
  threshold is solved on the **area-restricted fraction** ``#(class 2 & A) / #(skin & A)``, so the plan's face
  fraction holds within the facial area ``A``;
* ``A`` is recomputed on the *rendered* photo exactly as the pipeline sees it (the JPEG bytes written, decoded with
  PIL like :func:`vitiseg.images.read_rgb`), because painting and camera degradations can move the landmarks by a
  pixel or two. The first solve uses the background's area (warped with the visit's pose jitter); if the fraction
  within the rendered photo's area misses the render tolerance, the threshold is re-solved on that area and the photo
  re-rendered (same camera parameters and noise), up to ``FACE_AREA_ITERATIONS`` times; the closest render is kept.
  If FaceMesh loses the face on a rendered photo (heavy depigmentation or camera draws), the camera is redrawn up to 3
  times, and failing that the whole patient is redone on another face background (deterministic).
  Planned-fraction tolerance for the face: ``|fraction in A - target| <= 0.001 * target + 2 / #(skin & A)`` when the
  iteration converges; when the landmarks keep moving by a pixel between renders it may not, and the stated face
  tolerance is then ``+ FACE_LANDMARK_TOL * target`` (0.5 %, far below the 2 % responder margin of the plan). The
  worst excess over the render tolerance is ``max_face_tolerance_excess`` in summary.json (0 = all converged); a
  warning is logged only when a face photo exceeds the stated face tolerance.
* Truth: ``frac_face`` = TRuE-V fraction, ``f_vasi = 3 * frac_face`` (the primary truth), and ``f_vasi_allskin =
  3 * #(class 2) / #(skin)`` over the whole face photo (``--face-area skin`` measures this one); T-VASI uses
  ``frac_face`` (``t_vasi_allskin`` the all-skin face fraction). The truth facial-area masks are written to
  ``TRUTH/face_area/<patient>/<visit>/face_front.png`` (uint8, 255 = counted facial area), beside
  ``TRUTH/masks/...``; ``f_vasi == 3 * #(mask == 2 & area) / #(mask > 0 & area)`` holds exactly on the saved files.

With ``--background procedural`` the procedural faces have no FaceMesh landmarks: the facial area is then the whole
photo (the saved area mask is all 255), ``f_vasi == f_vasi_allskin``, and such folders must be run with
``face.area: skin``.

Stand-in backgrounds (real mode): face -> FASSEG frontal faces (``face_front``); neck -> Pratheepan photos (head, neck
and shoulders of web photos); hands -> HGR hands; upper_limbs -> HGR hands/forearms; trunk -> abdominal photos;
lower_limbs -> abdominal photos (no leg photos available: a large bare-skin stand-in); feet -> HGR hands (acral skin
stand-in). Each region of a patient is a different person's photo, so skin tone is not consistent within a patient
(procedural mode uses one tone per patient).
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from tqdm import tqdm

from PIL import Image

from vitiseg.config import load_regions
from vitiseg.images import atomic_write_bytes, atomic_write_text, encode_jpeg, write_png
from vitiseg.synth.appearance import LesionParams, apply_depigmentation, skin_ita
from vitiseg.synth.backgrounds import (
    BackgroundRef,
    list_backgrounds,
    load_background,
    procedural_background,
    resize_long_side_pair,
    sample_skin_tone,
)
from vitiseg.synth.photo import apply_photo, sample_photo_params
from vitiseg.synth.render import GENERATOR_VERSION, sample_appearance
from vitiseg.synth.shapes import (
    Layout,
    classes_from_alpha,
    depigmentation_alpha,
    follicle_map,
    make_layout,
    solve_threshold,
)

log = logging.getLogger(__name__)

REGIONS = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
NON_FACE = REGIONS[1:]
PHOTO_NAME = {r: ("face_front" if r == "face" else r) for r in REGIONS}
REAL_STANDIN = {
    "face": "fasseg_face_skin", "neck": "pratheepan_skin", "hands": "hgr_hands_subset",
    "upper_limbs": "hgr_hands_subset", "trunk": "abdominal_skin", "lower_limbs": "abdominal_skin",
    "feet": "hgr_hands_subset",
}
PROCEDURAL_PART = {
    "face": "face", "neck": "neck", "hands": "hand", "upper_limbs": "limb", "trunk": "trunk",
    "lower_limbs": "limb", "feet": "foot",
}
REGION_KINDS = {
    "face": ("periorificial", "blobs", "noise", "confetti"), "neck": ("blobs", "noise", "segmental"),
    "hands": ("acral", "blobs", "noise"), "upper_limbs": ("blobs", "noise", "acral"),
    "trunk": ("noise", "blobs", "sheet", "segmental"), "lower_limbs": ("noise", "blobs", "sheet"),
    "feet": ("acral", "blobs"),
}
MARGIN = 0.02  # min distance of any planned change ratio from a responder threshold
MIN_AREA_SKIN_SHARE = 0.25  # a face background needs >= this share of its skin inside the TRuE-V facial area
FACE_AREA_ITERATIONS = 4  # max renders per face photo to converge on the rendered photo's facial area
MAX_FACE_TRIES = 40  # face backgrounds tried per patient before giving up
FACE_LANDMARK_TOL = 0.005  # extra relative face tolerance when the rendered photo's landmarks do not settle


class CohortTargets(BaseModel):
    """Published cohort figures to reproduce (ratios are week-12 / baseline; rates are shares of patients)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    f_vasi_baseline_median: float = Field(gt=0, le=3)
    f_vasi_final_median: float = Field(ge=0, le=3)
    f_vasi75_rate: float = Field(ge=0, le=1)
    f_vasi90_rate: float = Field(ge=0, le=1)
    t_vasi_baseline_median: float = Field(gt=0, le=100)
    t_vasi_final_median: float = Field(ge=0, le=100)
    t_vasi50_rate: float = Field(ge=0, le=1)
    bsa_min: float = Field(0.5, ge=0)
    bsa_max: float = Field(10.0, le=100)


class CohortPreset(BaseModel):
    """A cohort recipe: size, visits (id -> day offset), photo size, and optional targets."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    patients: int = Field(gt=0)
    size: int = Field(ge=64)
    visits: dict[str, int]
    targets: CohortTargets | None = None
    source: str = ""


PRESETS: dict[str, CohortPreset] = {
    "ruxolitinib_wk12": CohortPreset(
        name="ruxolitinib_wk12", patients=50, size=768, visits={"baseline": 0, "week12": 84},
        targets=CohortTargets(
            f_vasi_baseline_median=1.0, f_vasi_final_median=0.34, f_vasi75_rate=0.40, f_vasi90_rate=0.10,
            t_vasi_baseline_median=2.09, t_vasi_final_median=0.95, t_vasi50_rate=0.42, bsa_min=0.5, bsa_max=10.0,
        ),
        source="week-12 figures given in vitiseg issue 3 (ruxolitinib cream, adults, facial involvement, 0.5-10 % BSA)",
    ),
    "small": CohortPreset(name="small", patients=3, size=384, visits={"baseline": 0, "week12": 84}),
}


# ------------------------------------------------------------------------------------------------------------
# Planning


def _bisect(fn, target: float, lo: float, hi: float, increasing: bool, tol: float = 1e-6, it: int = 200) -> float:
    """x in [lo, hi] with fn(x) ~= target for a monotone fn.

    If the target is outside [fn(lo), fn(hi)] (possible for small cohorts), warns and returns the nearer end.
    """
    flo, fhi = fn(lo), fn(hi)
    a, b = (flo, fhi) if increasing else (fhi, flo)
    if not (a - tol <= target <= b + tol):
        log.warning("cohort target %.4g unreachable with this cohort size (range %.4g..%.4g); using nearest",
                    target, a, b)
        return lo if abs(flo - target) < abs(fhi - target) else hi
    for _ in range(it):
        mid = 0.5 * (lo + hi)
        fm = fn(mid)
        if abs(fm - target) <= tol:
            return mid
        if (fm < target) == increasing:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _split_rest(rest: float, hu: dict[str, float], w: dict[str, float], cap: float = 0.9) -> dict[str, float]:
    """Distribute ``rest`` hand units over non-face regions by weights ``w``; fractions capped at ``cap``."""
    frac = {r: 0.0 for r in NON_FACE}
    remaining = rest
    active = {r for r in NON_FACE if w[r] > 0}
    for _ in range(10):
        if remaining <= 1e-12 or not active:
            break
        tot = sum(w[r] for r in active)
        add = {r: remaining * w[r] / tot for r in active}
        remaining = 0.0
        for r in list(active):
            f = frac[r] + add[r] / hu[r]
            if f > cap:
                remaining += (f - cap) * hu[r]
                f = cap
                active.discard(r)
            frac[r] = f
    if remaining > 1e-9:
        raise ValueError(f"cannot place {rest} hand units within the fraction cap")
    return frac


def plan_cohort(preset: CohortPreset, rng: np.random.Generator, patients: int | None = None) -> list[dict[str, Any]]:
    """Per-patient targets: ``{"patient_id", "f": [per visit], "t": [...], "frac": [{region: fraction}, ...]}``.

    Visits beyond the first interpolate geometrically between baseline and the final visit. With ``targets`` the
    medians and responder rates of F-VASI / T-VASI at baseline and at the final visit equal the preset's values on
    the planned numbers (for ``patients`` 50: exactly; rates are rounded to whole patients otherwise).
    """
    n = int(patients or preset.patients)
    tg = preset.targets
    hu = {r: s.hand_units for r, s in load_regions().regions.items()}
    u_f0 = np.exp(rng.normal(0.0, 0.45, n))
    y_rest = np.exp(rng.normal(0.0, 0.8, n))
    if tg is None:
        f0 = np.clip(u_f0, 0.3, 2.5)
        t0 = f0 + np.clip(1.2 * y_rest, 0.2, 8.0)
        r = np.clip(rng.uniform(0.1, 1.1, n), 0, 1.2)
        q = np.clip(rng.uniform(0.3, 1.1, n), 0, 1.2)
        f1 = f0 * r
        t1 = np.maximum(t0 * q, f1 + 0.1)
    else:
        f0 = np.clip(u_f0 * tg.f_vasi_baseline_median / np.median(u_f0), 0.5, 2.7)

        def t0_of(c: float) -> np.ndarray:
            return f0 + np.clip(c * y_rest, 0.2, tg.bsa_max - f0)

        c = _bisect(lambda c: float(np.median(t0_of(c))), tg.t_vasi_baseline_median, 1e-3, 50.0, True)
        t0 = t0_of(c)
        if t0.min() < tg.bsa_min - 1e-9:
            raise ValueError("planned BSA below the preset minimum")
        # F-VASI response categories, fixed counts
        k90 = int(round(tg.f_vasi90_rate * n))
        k75 = int(round(tg.f_vasi75_rate * n)) - k90
        perm = rng.permutation(n)
        cat = np.zeros(n, int)  # 0 = non-responder, 1 = F-VASI75 (not 90), 2 = F-VASI90
        cat[perm[:k90]] = 2
        cat[perm[k90 : k90 + k75]] = 1
        u = rng.uniform(0, 1, n)
        lo = np.select([cat == 2, cat == 1], [0.01, 0.10 + MARGIN], 0.25 + MARGIN)
        hi = np.select([cat == 2, cat == 1], [0.10 - MARGIN, 0.25 - MARGIN], 1.3)

        def r_of(g: float) -> np.ndarray:
            return lo + (hi - lo) * u ** np.exp(g)

        g = _bisect(lambda g: float(np.median(f0 * r_of(g))), tg.f_vasi_final_median, -6.0, 6.0, False)
        r = r_of(g)
        f1 = f0 * r
        # T-VASI50 responders: the k patients with the best face response (plus noise) -- clinically correlated
        k50 = int(round(tg.t_vasi50_rate * n))
        score = np.log(r) + rng.normal(0, 0.6, n)
        for _attempt in range(50):
            resp = np.zeros(n, bool)
            resp[np.argsort(score)[:k50]] = True
            qmin = (f1 + 0.05) / t0  # week-12 T-VASI must exceed its face part
            qlo = np.where(resp, np.maximum(0.10, qmin), np.maximum(0.5 + MARGIN, qmin))
            qhi = np.where(resp, 0.5 - MARGIN, 1.3)
            if np.all(qlo < qhi):
                break
            score[np.nonzero(resp & (qlo >= qhi))[0]] += 5.0  # cannot respond: swap out
        else:
            raise ValueError("could not assign T-VASI responders consistent with the face targets")
        v = rng.uniform(0, 1, n)

        def q_of(g: float) -> np.ndarray:
            return qlo + (qhi - qlo) * v ** np.exp(g)

        g = _bisect(lambda g: float(np.median(t0 * q_of(g))), tg.t_vasi_final_median, -6.0, 6.0, False)
        t1 = t0 * q_of(g)
    plans = []
    visits = list(preset.visits)
    for i in range(n):
        involved = rng.random(len(NON_FACE)) < 0.6
        if not involved.any():
            involved[int(rng.integers(len(NON_FACE)))] = True
        w0 = {reg: float(rng.gamma(1.5)) if inv else 0.0 for reg, inv in zip(NON_FACE, involved)}
        rest0 = float(t0[i] - f0[i])
        rest1 = float(t1[i] - f1[i])
        fr0 = _split_rest(rest0, hu, w0)
        # per-region response varies around the patient's overall response
        w1 = {reg: w0[reg] * float(np.exp(rng.normal(0, 0.3))) for reg in NON_FACE}
        fr1 = _split_rest(rest1, hu, w1)
        fs, ts, fracs = [], [], []
        for k, _vid in enumerate(visits):
            s = k / (len(visits) - 1) if len(visits) > 1 else 0.0
            fv = float(f0[i] ** (1 - s) * max(f1[i], 1e-9) ** s) if k not in (0, len(visits) - 1) else (
                float(f0[i]) if k == 0 else float(f1[i]))
            fr = {"face": fv / hu["face"]}
            for reg in NON_FACE:
                a, b = fr0[reg], fr1[reg]
                fr[reg] = a if k == 0 else (b if k == len(visits) - 1 else float(a ** (1 - s) * max(b, 1e-9) ** s))
            fs.append(fv)
            ts.append(float(sum(hu[reg] * fr[reg] for reg in REGIONS)))
            fracs.append(fr)
        plans.append({"patient_id": f"P{i + 1:03d}", "f": fs, "t": ts, "frac": fracs})
    return plans


# ------------------------------------------------------------------------------------------------------------
# Rendering


@dataclass
class RegionScene:
    """One patient's region photo: background, skin, lesion layout and appearance (shared by all visits).

    ``area``: (H,W) bool TRuE-V facial area of the background (face photo on a real face), None otherwise.
    """

    rgb: np.ndarray
    skin: np.ndarray
    layout: Layout
    params: LesionParams
    background: str
    ita: float
    area: np.ndarray | None = None


def _jitter(rgb: np.ndarray, skin: np.ndarray, field: np.ndarray, islands_base: np.ndarray | None,
            rng: np.random.Generator, strength: float, area: np.ndarray | None = None,
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Same small similarity transform (rotation <= 2 deg, zoom 1.0-1.05, shift <= 2 %) on all layers."""
    h, w = skin.shape
    if strength <= 0:
        return rgb, skin, field, islands_base, area
    ang = float(rng.uniform(-2, 2)) * strength
    sc = float(1.0 + rng.uniform(0.0, 0.05) * strength)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), ang, sc)
    M[:, 2] += rng.uniform(-0.02, 0.02, 2) * np.array([w, h]) * strength
    warp = lambda a, interp: cv2.warpAffine(a, M, (w, h), flags=interp, borderMode=cv2.BORDER_REFLECT_101)  # noqa: E731
    rgb2 = warp(rgb, cv2.INTER_LINEAR)
    skin2 = warp(skin.astype(np.uint8), cv2.INTER_NEAREST) > 0
    field2 = warp(field, cv2.INTER_LINEAR)
    field2 = np.where(skin2, field2, -1.0).astype(np.float32)
    isl2 = warp(islands_base, cv2.INTER_LINEAR) if islands_base is not None else None
    area2 = (cv2.warpAffine(area.astype(np.uint8), M, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=0) > 0) if area is not None else None
    return rgb2, skin2, field2, isl2, area2


class FaceAreaLost(RuntimeError):
    """The facial area found on a face background is no longer found on a rendered visit photo."""

    def __init__(self, bg_id: str, message: str) -> None:
        super().__init__(message)
        self.bg_id = bg_id


def decode_jpeg(data: bytes) -> np.ndarray:
    """JPEG bytes -> (H,W,3) uint8 RGB, decoded with PIL as :func:`vitiseg.images.read_rgb` does (the pixels the
    pipeline analyses when the photo is at or below its working size)."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def truev_area(rgb: np.ndarray) -> np.ndarray | None:
    """TRuE-V facial area (H,W) bool of a frontal face photo ((H,W,3) uint8 RGB), or None when FaceMesh fails."""
    from vitiseg.face import facial_area

    fa = facial_area(rgb, "front")
    return fa.mask if fa.status == "ok" else None


def solve_threshold_in(layout: Layout, skin: np.ndarray, domain: np.ndarray, target: float,
                       islands: np.ndarray | None = None, tol_px: int = 0,
                       max_iter: int = 40) -> tuple[float, np.ndarray]:
    """Lesions painted on all of ``skin``; the fraction that must hit ``target`` is counted within ``domain``
    ((H,W) bool, e.g. skin & facial area): ``#(class 2 & domain) / #(skin & domain)``. Returns ``(t, alpha)``."""
    return solve_threshold(layout, skin, target, islands, tol_px=tol_px, max_iter=max_iter, domain=domain)


def _area_counts(cls: np.ndarray, area: np.ndarray) -> tuple[int, int]:
    """(skin px, depigmented px) of class mask ``cls`` within ``area``."""
    return int(((cls > 0) & area).sum()), int(((cls == 2) & area).sum())


def _render_visit(scene: RegionScene, target: float, island_grow: float, rng: np.random.Generator,
                  jitter: bool, truev: bool = False) -> tuple[bytes, np.ndarray, np.ndarray | None, dict]:
    """Render one visit photo: ``(JPEG bytes, class mask, facial area or None, meta)``.

    ``truev``: face photo on a real face -- the target is the fraction within the TRuE-V facial area of the rendered
    photo (module docstring); otherwise within all skin.
    """
    lay = scene.layout
    isl = follicle_map(lay, scene.skin.shape, island_grow) if len(lay.follicle_r) else None
    rgb, skin, field, isl, area = _jitter(scene.rgb, scene.skin, lay.field, isl, rng, 1.0 if jitter else 0.0,
                                          scene.area if truev else None)
    lay_v = Layout(field, lay.kind, lay.border_px, lay.trichrome_px, lay.trichrome_in, lay.trichrome_out,
                   lay.follicle_yx, lay.follicle_r, lay.symmetric)
    photo = sample_photo_params(rng, 0.6)
    noise_seed = int(rng.integers(2**62))
    if not truev:
        n_skin = int(skin.sum())
        tol = int(0.001 * target * n_skin) + 2
        t, alpha = solve_threshold(lay_v, skin, target, isl, tol_px=tol, max_iter=40)
        cls = classes_from_alpha(alpha, skin)
        out = apply_photo(apply_depigmentation(rgb, alpha, scene.params), photo, np.random.default_rng(noise_seed))
        return encode_jpeg(out, photo.jpeg_quality), cls, None, {"threshold": t, "photo": photo.as_dict()}
    best: tuple | None = None
    renders = redraws = 0
    while renders < FACE_AREA_ITERATIONS + redraws:
        dom = skin & area
        n_dom = int(dom.sum())
        tol = int(0.001 * target * n_dom) + 2
        t, alpha = solve_threshold_in(lay_v, skin, dom, target, isl, tol_px=tol)
        cls = classes_from_alpha(alpha, skin)
        out = apply_photo(apply_depigmentation(rgb, alpha, scene.params), photo, np.random.default_rng(noise_seed))
        jpg = encode_jpeg(out, photo.jpeg_quality)
        renders += 1
        a_r = truev_area(decode_jpeg(jpg))
        if a_r is None:
            if best is not None:
                break  # keep the closest render whose facial area was found
            if redraws >= 3:
                break
            redraws += 1  # the camera degradations hid the face: draw other (milder) ones
            log.debug("facial area not found on the rendered photo (%s); new camera draw", scene.background)
            photo = sample_photo_params(rng, 0.3)
            noise_seed = int(rng.integers(2**62))
            continue
        s_px, d_px = _area_counts(cls, a_r)
        excess = abs(d_px / max(s_px, 1) - target) - 0.001 * target - 2.0 / max(s_px, 1)
        if best is None or excess < best[0]:
            best = (excess, jpg, cls, a_r, t)
        if excess <= 0:
            break
        area = a_r
    if best is None:
        raise FaceAreaLost(scene.background.split("/")[-1],
                           f"FaceMesh finds no facial area on the rendered face photo ({scene.background})")
    excess, jpg, cls, a_r, t = best
    return jpg, cls, a_r, {"threshold": t, "photo": photo.as_dict(), "face_renders": renders,
                           "face_tolerance_excess": max(0.0, excess)}


def _fraction(cls: np.ndarray) -> tuple[int, int]:
    c = np.bincount(cls.ravel(), minlength=3)
    return int(c[1] + c[2]), int(c[2])


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow(r)
    return buf.getvalue()


def _fmt(x: float | None, nd: int = 6) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def _change(b: float, v: float) -> float | None:
    return None if b <= 0 else 100.0 * (v - b) / b


def generate_cohort(out: str | Path, preset: str = "small", seed: int = 0, skin_root: str | Path | None = None,
                    patients: int | None = None, size: int | None = None, truth_dir: str | Path | None = None,
                    background: str = "real", progress: bool = True) -> dict[str, Any]:
    """Write the visits folder ``out`` and its truth folder; returns the summary (also written as summary.json)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    pr = PRESETS[preset]
    size = int(size or pr.size)
    out = Path(out)
    truth = Path(truth_dir) if truth_dir else out.parent / f"{out.name}_truth"
    hu = {r: s.hand_units for r, s in load_regions().regions.items()}
    rng_plan = np.random.default_rng([seed, 1])
    plans = plan_cohort(pr, rng_plan, patients)
    visits = list(pr.visits)

    pools: dict[str, list[BackgroundRef]] = {}
    if background == "real":
        if skin_root is None:
            raise ValueError("--skin-root is required with --background real (or use --background procedural)")
        refs = [r for r in list_backgrounds(skin_root, tuple(sorted(set(REAL_STANDIN.values()))))
                if r.split in ("test", "val")]
        for s in set(REAL_STANDIN.values()):
            pools[s] = [r for r in refs if r.set == s and (s != "pratheepan_skin" or r.bg_id <= "prat_00032")] or \
                       [r for r in refs if r.set == s]
            if not pools[s]:
                raise ValueError(f"no test/val backgrounds for {s} under {skin_root}")
    elif background != "procedural":
        raise ValueError(f"unknown background mode {background!r}")

    base_day = date(2024, 1, 8)
    visit_rows, truth_rows, patient_rows = [], [], []
    n_photos = len(plans) * len(visits) * len(REGIONS)
    bar = tqdm(total=n_photos, desc="synth cohort", unit="photo", disable=not progress)
    max_err = 0.0
    max_face_excess = 0.0
    n_face_over = 0
    face_renders: list[int] = []
    no_face: set[str] = set()  # face backgrounds on which FaceMesh finds no usable facial area
    for pi, plan in enumerate(plans):
        n_rows = (len(truth_rows), len(visit_rows), len(face_renders), max_err, max_face_excess, n_face_over)
        for _attempt in range(MAX_FACE_TRIES):
            try:
                pid = plan["patient_id"]
                prng = np.random.default_rng([seed, 2, pi])
                tone = None
                if background == "procedural":
                    tone = sample_skin_tone(prng)
                used: set[str] = set()
                scenes: dict[str, RegionScene] = {}
                for reg in REGIONS:
                    area = None
                    if background == "real":
                        pool = pools[REAL_STANDIN[reg]]
                        for _try in range(MAX_FACE_TRIES if reg == "face" else 1):
                            cand = [r for r in pool if r.bg_id not in used and r.bg_id not in no_face] or \
                                   [r for r in pool if r.bg_id not in no_face]
                            if not cand:
                                raise ValueError(f"no {REAL_STANDIN[reg]} background with a detectable facial area")
                            ref = cand[int(prng.integers(len(cand)))]
                            used.add(ref.bg_id)
                            rgb, skin = load_background(ref.image, ref.mask)
                            rgb, skin = resize_long_side_pair(rgb, skin, size)
                            if reg != "face":
                                break
                            area = truev_area(rgb)
                            if area is not None and (skin & area).sum() >= MIN_AREA_SKIN_SHARE * max(int(skin.sum()), 1):
                                break
                            log.info("face background %s/%s: no usable TRuE-V facial area; drawing another", ref.set,
                                     ref.bg_id)
                            no_face.add(ref.bg_id)
                            area = None
                        else:
                            raise ValueError(f"no face background with a usable facial area after {MAX_FACE_TRIES} tries")
                        bg_name = f"{ref.set}/{ref.bg_id}"
                    else:
                        rgb, skin = procedural_background(PROCEDURAL_PART[reg], size, prng, tone)
                        bg_name = f"procedural/{PROCEDURAL_PART[reg]}"
                    kinds = [k for k in REGION_KINDS[reg] if k != "confetti" or plan["frac"][0][reg] <= 0.08]
                    layout = make_layout(skin, prng, str(kinds[int(prng.integers(len(kinds)))]),
                                         follicle_density=float(prng.uniform(0.3, 2.5)))
                    ita = skin_ita(rgb, skin)
                    scenes[reg] = RegionScene(rgb, skin, layout, sample_appearance(ita, prng), bg_name, ita, area)
                start = base_day + timedelta(days=int(prng.integers(0, 180)))
                dlqi0 = int(np.clip(round(2 + 2.5 * plan["f"][0] + prng.normal(3, 2)), 0, 30))
                for vi, vid in enumerate(visits):
                    vrng = np.random.default_rng([seed, 3, pi, vi])
                    row: dict[str, Any] = {"patient_id": pid, "visit_id": vid, "visit_index": vi}
                    for reg in REGIONS:
                        sc = scenes[reg]
                        target = plan["frac"][vi][reg]
                        base_frac = plan["frac"][0][reg]
                        ratio = target / base_frac if base_frac > 0 else 1.0
                        grow = 0.6 + 1.8 * float(np.clip(1.0 - ratio, 0.0, 1.0))
                        truev = reg == "face" and sc.area is not None
                        jpg, cls, farea, meta = _render_visit(sc, target, grow, vrng, jitter=vi > 0, truev=truev)
                        rel = Path(pid) / vid / f"{PHOTO_NAME[reg]}.jpg"
                        atomic_write_bytes(out / rel, jpg)
                        write_png(truth / "masks" / pid / vid / f"{PHOTO_NAME[reg]}.png", cls)
                        if reg == "face":
                            if farea is None:  # procedural face: no landmarks, the whole photo counts
                                farea = np.ones(cls.shape, bool)
                            write_png(truth / "face_area" / pid / vid / f"{PHOTO_NAME[reg]}.png", farea.astype(np.uint8) * 255)
                            s_all, d_all = _fraction(cls)
                            row["skin_px_face_allskin"] = s_all
                            row["depigmented_px_face_allskin"] = d_all
                            row["frac_face_allskin"] = d_all / s_all if s_all else 0.0
                            row["area_px_face"] = int(farea.sum())
                            s_px, d_px = _area_counts(cls, farea)
                            if truev:
                                face_renders.append(int(meta["face_renders"]))
                                max_face_excess = max(max_face_excess, float(meta["face_tolerance_excess"]))
                                if meta["face_tolerance_excess"] > FACE_LANDMARK_TOL * target:
                                    n_face_over += 1
                        else:
                            s_px, d_px = _fraction(cls)
                        frac = d_px / s_px if s_px else 0.0
                        if not truev:
                            max_err = max(max_err, abs(frac - target) - 0.001 * target - 2.0 / max(s_px, 1))
                        row[f"frac_{reg}"] = frac
                        row[f"target_frac_{reg}"] = target
                        row[f"skin_px_{reg}"] = s_px
                        row[f"depigmented_px_{reg}"] = d_px
                        row[f"background_{reg}"] = sc.background
                        bar.update(1)
                    row["f_vasi"] = hu["face"] * row["frac_face"]
                    row["t_vasi"] = sum(hu[r] * row[f"frac_{r}"] for r in REGIONS)
                    row["f_vasi_allskin"] = hu["face"] * row["frac_face_allskin"]
                    row["t_vasi_allskin"] = row["t_vasi"] + hu["face"] * (row["frac_face_allskin"] - row["frac_face"])
                    row["target_f_vasi"] = plan["f"][vi]
                    row["target_t_vasi"] = plan["t"][vi]
                    truth_rows.append(row)
                    # patient-reported outcomes, plausibly tied to the true change
                    d = start + timedelta(days=pr.visits[vid])
                    pro = {"patient_id": pid, "visit_id": vid, "date": d.isoformat()}
                    if vi == 0:
                        pro["vns"] = ""
                        pro["dlqi"] = dlqi0
                    else:
                        fr = row["f_vasi"] / truth_rows[-1 - vi]["f_vasi"] if truth_rows[-1 - vi]["f_vasi"] > 0 else 1.0
                        tr = row["t_vasi"] / truth_rows[-1 - vi]["t_vasi"] if truth_rows[-1 - vi]["t_vasi"] > 0 else 1.0
                        vns = 5 if fr <= 0.1 else 4 if fr <= 0.3 else 3 if fr <= 0.7 else 2 if fr <= 1.05 else 1
                        vns = int(np.clip(vns + vrng.choice([-1, 0, 0, 0, 1]), 1, 5))
                        pro["vns"] = vns
                        pro["dlqi"] = int(np.clip(round(dlqi0 * (0.4 + 0.6 * min(tr, 1.5)) + vrng.normal(0, 1.5)), 0, 30))
                    visit_rows.append(pro)
                base = truth_rows[-len(visits)]
                last = truth_rows[-1]
                fc, tc = _change(base["f_vasi"], last["f_vasi"]), _change(base["t_vasi"], last["t_vasi"])
                fca = _change(base["f_vasi_allskin"], last["f_vasi_allskin"])
                patient_rows.append({
                    "patient_id": pid, "baseline_visit_id": visits[0], "final_visit_id": visits[-1],
                    "f_vasi_baseline": _fmt(base["f_vasi"]), "f_vasi_final": _fmt(last["f_vasi"]),
                    "f_vasi_change_pct": _fmt(fc, 3),
                    "f_vasi50": "" if fc is None else fc <= -50, "f_vasi75": "" if fc is None else fc <= -75,
                    "f_vasi90": "" if fc is None else fc <= -90,
                    "t_vasi_baseline": _fmt(base["t_vasi"]), "t_vasi_final": _fmt(last["t_vasi"]),
                    "t_vasi_change_pct": _fmt(tc, 3), "t_vasi50": "" if tc is None else tc <= -50,
                    "t_vasi75": "" if tc is None else tc <= -75,
                    "f_vasi_allskin_baseline": _fmt(base["f_vasi_allskin"]),
                    "f_vasi_allskin_final": _fmt(last["f_vasi_allskin"]),
                    "f_vasi_allskin_change_pct": _fmt(fca, 3),
                })
            except FaceAreaLost as exc:  # lesions/camera hid the face: another face background for this patient
                log.info("%s: %s; drawing another face background", pid, exc)
                no_face.add(exc.bg_id)
                del truth_rows[n_rows[0]:], visit_rows[n_rows[1]:], face_renders[n_rows[2]:]
                max_err, max_face_excess, n_face_over = n_rows[3:]
                bar.n = pi * len(visits) * len(REGIONS)
                bar.refresh()
                continue
            break
        else:
            raise ValueError(f"{pid}: no face background keeps a detectable facial area after rendering")
    bar.close()

    atomic_write_text(out / "visits.csv", _csv(visit_rows, ["patient_id", "visit_id", "date", "vns", "dlqi"]))
    cols = ["patient_id", "visit_id", "visit_index", "f_vasi", "t_vasi", "target_f_vasi", "target_t_vasi",
            "f_vasi_allskin", "t_vasi_allskin"]
    for kind in ("frac", "target_frac", "skin_px", "depigmented_px", "background"):
        cols += [f"{kind}_{r}" for r in REGIONS]
    cols += ["area_px_face", "frac_face_allskin", "skin_px_face_allskin", "depigmented_px_face_allskin"]
    fmt_rows = [{k: (_fmt(v) if isinstance(v, float) else v) for k, v in r.items()} for r in truth_rows]
    atomic_write_text(truth / "visits.csv", _csv(fmt_rows, cols))
    atomic_write_text(truth / "patients.csv", _csv(patient_rows, list(patient_rows[0])))
    stats = cohort_statistics(truth_rows, visits)
    stats_allskin = cohort_statistics(
        [{**r, "f_vasi": r["f_vasi_allskin"], "t_vasi": r["t_vasi_allskin"]} for r in truth_rows], visits)
    face_mode = "truev" if background == "real" else "skin"
    summary = {
        "generator": f"vitiseg.synth.cohort {GENERATOR_VERSION}",
        "preset": pr.model_dump(), "seed": seed, "patients": len(plans), "size": size, "background": background,
        "visits_dir": str(out), "truth_dir": str(truth), "achieved": stats,
        "achieved_allskin_face": stats_allskin,
        "face_area": face_mode,
        "render_tolerance": "per photo |fraction - target| <= 0.001 * target + 2 / skin_px (face: fraction and "
                            "skin_px within the TRuE-V facial area of the rendered photo)",
        "max_tolerance_excess": max_err,
        "max_face_tolerance_excess": max_face_excess,
        "face_tolerance": "per face photo |fraction in A - target| <= 0.001 * target + 2 / #(skin & A) "
                          f"+ {FACE_LANDMARK_TOL} * target (landmark movement between renders)",
        "face_photos_over_face_tolerance": n_face_over,
        "face_renders_per_photo_max": max(face_renders) if face_renders else 0,
        "face_renders_per_photo_mean": float(np.mean(face_renders)) if face_renders else 0.0,
        "face_backgrounds_without_area": sorted(no_face),
        "stand_ins": REAL_STANDIN if background == "real" else PROCEDURAL_PART,
        "truth_rule": "fraction = depigmented px / skin px of the region's photo(s); face: within the TRuE-V "
                      "facial area (face_area/ masks; the whole photo with procedural backgrounds); "
                      "F-VASI = 3 * face fraction; f_vasi_allskin = 3 * all-skin face fraction; "
                      "T-VASI = sum(hand_units * fraction), hand units from configs/regions.yaml",
    }
    atomic_write_text(truth / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    if max_err > 1e-12:
        log.warning("some photos missed the render tolerance (worst excess %.3g)", max_err)
    if n_face_over:
        log.warning("%d face photos missed the face tolerance within the rendered facial area (worst excess %.3g)",
                    n_face_over, max_face_excess)
    elif max_face_excess > 0:
        log.info("face photos within the landmark tolerance (worst excess over the render tolerance %.3g)",
                 max_face_excess)
    log.info("cohort stats: %s", stats)
    return summary


def cohort_statistics(rows: list[dict[str, Any]], visits: list[str]) -> dict[str, float]:
    """Medians and responder rates at the first and last visit from per-visit truth rows (floats)."""
    by = {}
    for r in rows:
        by.setdefault(r["patient_id"], {})[r["visit_id"]] = r
    f0 = np.array([v[visits[0]]["f_vasi"] for v in by.values()], float)
    f1 = np.array([v[visits[-1]]["f_vasi"] for v in by.values()], float)
    t0 = np.array([v[visits[0]]["t_vasi"] for v in by.values()], float)
    t1 = np.array([v[visits[-1]]["t_vasi"] for v in by.values()], float)
    fch = (f1 - f0) / f0
    tch = (t1 - t0) / t0
    return {
        "n": int(len(f0)),
        "f_vasi_baseline_median": float(np.median(f0)), "f_vasi_final_median": float(np.median(f1)),
        "f_vasi75_rate": float(np.mean(fch <= -0.75)), "f_vasi90_rate": float(np.mean(fch <= -0.90)),
        "t_vasi_baseline_median": float(np.median(t0)), "t_vasi_final_median": float(np.median(t1)),
        "t_vasi50_rate": float(np.mean(tch <= -0.50)),
        "bsa_baseline_min": float(t0.min()), "bsa_baseline_max": float(t0.max()),
        "face_involved_baseline_rate": float(np.mean(f0 > 0)),
    }
