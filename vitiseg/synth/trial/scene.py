"""Rendering one visit photo of a patient's region: the same lesion layout re-photographed (small pose jitter, new
camera), thresholded for the visit's target fraction; for a face, within the TRuE-V facial area of the rendered photo
(see :mod:`.render`)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from vitiseg.io.images import encode_jpeg
from vitiseg.synth.appearance import LesionParams, apply_depigmentation
from vitiseg.synth.photo import apply_photo, sample_photo_params
from vitiseg.synth.shapes import Layout, classes_from_alpha, depigmentation_alpha, follicle_map, solve_threshold

from .motion import warp_layers
from .presets import FACE_AREA_ITERATIONS
from .repigment import LesionPlan, alpha_of_core, solve_progress

log = logging.getLogger(__name__)


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
    """JPEG bytes -> (H,W,3) uint8 RGB, decoded with PIL as :func:`vitiseg.io.images.read_rgb` does (the pixels the
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


def area_counts(cls: np.ndarray, area: np.ndarray) -> tuple[int, int]:
    """(skin px, depigmented px) of class mask ``cls`` within ``area``."""
    return int(((cls > 0) & area).sum()), int(((cls == 2) & area).sum())


def render_visit(scene: RegionScene, target: float, island_grow: float, rng: np.random.Generator,
                  jitter: bool, truev: bool = False, camera: np.ndarray | None = None,
                  lesions: LesionPlan | None = None) -> tuple[bytes, np.ndarray, np.ndarray | None, dict]:
    """Render one visit photo: ``(JPEG bytes, class mask, facial area or None, meta)``.

    ``truev``: face photo on a real face -- the target is the fraction within the TRuE-V facial area of the rendered
    photo (module docstring); otherwise within all skin. Tracking-truth options (both None by default, which renders
    exactly as before they existed): ``camera``, the baseline -> photo homography (:mod:`.motion`) replacing the small
    jitter; ``lesions``, the baseline lesions' repigmentation plan (:mod:`.repigment`) replacing the threshold rule
    when the target is below the baseline's. With either, ``meta["scene_classes"]`` is the visit's class mask in the
    baseline frame (what the follow-up looks like aligned to the baseline).
    """
    lay = scene.layout
    isl = follicle_map(lay, scene.skin.shape, island_grow) if len(lay.follicle_r) else None
    isl_scene = isl
    if camera is None:
        rgb, skin, field, isl, area = _jitter(scene.rgb, scene.skin, lay.field, isl, rng, 1.0 if jitter else 0.0,
                                              scene.area if truev else None)
    else:
        rgb, skin, field, isl, area = warp_layers(camera, scene.rgb, scene.skin, lay.field, isl,
                                                  scene.area if truev else None)
    lay_v = Layout(field, lay.kind, lay.border_px, lay.trichrome_px, lay.trichrome_in, lay.trichrome_out,
                   lay.follicle_yx, lay.follicle_r, lay.symmetric)
    photo = sample_photo_params(rng, 0.6)
    noise_seed = int(rng.integers(2**62))
    progress: list[float] = []

    def solve(dom: np.ndarray | None, tol: int) -> tuple[float, np.ndarray]:
        if lesions is not None:
            got = solve_progress(lesions, camera, skin, dom, target, tol)
            if got is not None:
                progress[:] = [got[0]]
                return got[0], alpha_of_core(got[1], skin, lay)
        progress.clear()
        return solve_threshold(lay_v, skin, target, isl, tol_px=tol, max_iter=40, domain=dom)

    def scene_classes(t: float) -> np.ndarray | None:
        if camera is None and lesions is None:
            return None
        if progress:
            return classes_from_alpha(lesions.core(progress[0]).astype(np.float32), scene.skin)
        return classes_from_alpha(depigmentation_alpha(lay, scene.skin, t, isl_scene), scene.skin)

    if not truev:
        n_skin = int(skin.sum())
        tol = int(0.001 * target * n_skin) + 2
        t, alpha = solve(None, tol)
        cls = classes_from_alpha(alpha, skin)
        out = apply_photo(apply_depigmentation(rgb, alpha, scene.params), photo, np.random.default_rng(noise_seed))
        meta = {"threshold": t, "photo": photo.as_dict()}
        if (sc := scene_classes(t)) is not None:
            meta.update(scene_classes=sc, repigmentation="patterns" if progress else "threshold")
        return encode_jpeg(out, photo.jpeg_quality), cls, None, meta
    best: tuple | None = None
    renders = redraws = 0
    while renders < FACE_AREA_ITERATIONS + redraws:
        dom = skin & area
        n_dom = int(dom.sum())
        tol = int(0.001 * target * n_dom) + 2
        t, alpha = solve(dom, tol)
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
        s_px, d_px = area_counts(cls, a_r)
        excess = abs(d_px / max(s_px, 1) - target) - 0.001 * target - 2.0 / max(s_px, 1)
        if best is None or excess < best[0]:
            best = (excess, jpg, cls, a_r, t, list(progress))
        if excess <= 0:
            break
        area = a_r
    if best is None:
        raise FaceAreaLost(scene.background.split("/")[-1],
                           f"FaceMesh finds no facial area on the rendered face photo ({scene.background})")
    excess, jpg, cls, a_r, t, progress[:] = best
    meta = {"threshold": t, "photo": photo.as_dict(), "face_renders": renders, "face_tolerance_excess": max(0.0, excess)}
    if (sc := scene_classes(t)) is not None:
        meta.update(scene_classes=sc, repigmentation="patterns" if progress else "threshold")
    return jpg, cls, a_r, meta
