"""Alignment of a follow-up photo to its baseline: a known camera motion is recovered, a photo of something else
is refused with a reason, and the landmark warps are exact where they should be."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vitiseg.config import TrackingConfig
from vitiseg.synth.shapes import smooth_noise
from vitiseg.synth.trial.motion import sample_camera_motion
from vitiseg.tracking.register import (PhotoView, align, homography_grid, piecewise_affine_grid,
                                       warp_to_baseline)

CFG = TrackingConfig()


def textured_scene(seed: int, size: int = 320) -> tuple[np.ndarray, np.ndarray]:
    """A photo-like scene (H,W,3) uint8 with skin texture and a class mask: skin an ellipse, two depigmented blobs."""
    rng = np.random.default_rng(seed)
    tex = sum(smooth_noise((size, size), s, rng) * a for s, a in ((24, 14), (6, 8), (2.5, 5)))
    yy, xx = np.mgrid[0:size, 0:size]
    skin = ((yy - size / 2) / (0.42 * size)) ** 2 + ((xx - size / 2) / (0.32 * size)) ** 2 < 1
    cls = skin.astype(np.uint8)
    for cy, cx, r in ((0.4, 0.45, 0.08), (0.62, 0.55, 0.06)):
        cls[skin & ((yy - cy * size) ** 2 + (xx - cx * size) ** 2 < (r * size) ** 2)] = 2
    base = np.where(cls[..., None] == 0, (60, 90, 150), np.where(cls[..., None] == 2, (235, 215, 205),
                                                                    (190, 135, 110)))
    rgb = np.clip(base + tex[..., None], 0, 255).astype(np.uint8)
    return rgb, cls


def moved(rgb: np.ndarray, cls: np.ndarray, H: np.ndarray) -> PhotoView:
    h, w = cls.shape
    return PhotoView(cv2.warpPerspective(rgb, H, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101),
                     cv2.warpPerspective(cls, H, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_known_camera_motion_is_recovered_to_a_fraction_of_a_pixel(seed):
    rgb, cls = textured_scene(seed)
    H = sample_camera_motion(320, 320, np.random.default_rng(seed + 10), 1.0)
    al = align(PhotoView(rgb, cls), moved(rgb, cls, H), CFG)
    assert al.status == "aligned", al.reason
    assert al.method == "sift+ecc"
    err = np.linalg.norm(al.grid - homography_grid(H, cls.shape), axis=-1)
    assert np.median(err[cls > 0]) < 0.25 and err[cls > 0].max() < 1.0
    assert al.quality["skin_overlap"] > 0.97 and al.quality["coverage"] > 0.9


def test_ecc_refines_what_the_features_found():
    rgb, cls = textured_scene(3)
    H = sample_camera_motion(320, 320, np.random.default_rng(4), 1.0)
    fu = moved(rgb, cls, H)
    true = homography_grid(H, cls.shape)
    errs = {}
    for refine in ("none", "ecc"):
        al = align(PhotoView(rgb, cls), fu, TrackingConfig(refine=refine))
        errs[refine] = float(np.median(np.linalg.norm(al.grid - true, axis=-1)[cls > 0]))
    assert errs["ecc"] < errs["none"]


def test_a_photo_of_something_else_is_not_aligned_and_says_why():
    rgb, cls = textured_scene(5)
    other, other_cls = textured_scene(6)
    other_cls = np.zeros_like(other_cls)
    other_cls[40:120, 200:300] = 1  # another body part, elsewhere in the frame
    al = align(PhotoView(rgb, cls), PhotoView(other, other_cls), CFG)
    assert al.status == "not_aligned"
    assert al.reason


def test_piecewise_affine_warp_is_exact_for_an_affine_motion_and_uses_the_fallback_outside():
    rng = np.random.default_rng(0)
    src = rng.uniform(40, 160, (60, 2))
    A = np.array([[1.05, 0.1, 3.0], [-0.08, 0.97, -5.0]])
    dst = src @ A[:, :2].T + A[:, 2]
    outside = np.full((200, 200, 2), -7.0, np.float32)
    grid = piecewise_affine_grid(src, dst, (200, 200), outside)
    yy, xx = np.mgrid[0:200, 0:200]
    expect = np.stack([xx, yy], -1) @ A[:, :2].T + A[:, 2]
    inside = grid[..., 0] != -7.0
    assert 0.2 < inside.mean() < 0.5  # the landmarks' hull
    assert np.abs(grid[inside] - expect[inside]).max() < 1e-3
    assert (grid[~inside] == -7.0).all()


def face_pair(landmark_noise: float, shift: float = 0.0) -> tuple[PhotoView, PhotoView, np.ndarray]:
    """A textured pair moved by a known homography, with 478 'landmarks' moved by it (plus noise / a shift)."""
    rng = np.random.default_rng(1)
    rgb, cls = textured_scene(7)
    lm = rng.uniform(80, 240, (478, 2)).astype(np.float32)
    lm[263], lm[33] = (200, 140), (120, 140)  # outer canthi: the eye distance scales the residual limit
    H = sample_camera_motion(320, 320, np.random.default_rng(2), 1.0)
    fu = moved(rgb, cls, H)
    lf = cv2.perspectiveTransform(lm.reshape(-1, 1, 2).astype(np.float64), H).reshape(-1, 2)
    fu.landmarks = (lf + rng.normal(0, landmark_noise, lf.shape) + shift).astype(np.float32)
    return PhotoView(rgb, cls, lm), fu, H


def test_exact_face_landmarks_give_the_homography_they_were_moved_by():
    base, fu, H = face_pair(0.0)
    al = align(base, fu, TrackingConfig(refine="none"))
    assert al.status == "aligned" and al.method == "landmarks"
    assert al.quality["residual_px"] < 1e-3
    assert np.abs(al.grid - homography_grid(H, base.classes.shape)).max() < 1e-2


def test_noisy_or_misplaced_landmarks_are_refined_and_without_refinement_misplaced_ones_lose_to_the_features():
    errs = {}
    for name, noise, shift, refine in (("noisy", 1.5, 0.0, "ecc"), ("misplaced", 0.3, 6.0, "ecc"),
                                       ("misplaced, unrefined", 0.3, 6.0, "none")):
        base, fu, H = face_pair(noise, shift)
        true = homography_grid(H, base.classes.shape)
        al = align(base, fu, TrackingConfig(refine=refine))
        assert al.status == "aligned"
        errs[name] = (al.method, float(np.median(np.linalg.norm(al.grid - true, axis=-1)[base.skin])))
    # every start converges to the same solution: the landmarks, the most trusted start, name it
    assert errs["noisy"][0] == "landmarks+ecc" and errs["noisy"][1] < 0.25
    assert errs["misplaced"][0] == "landmarks+ecc" and errs["misplaced"][1] < 0.25
    assert errs["misplaced, unrefined"][0] == "sift" and errs["misplaced, unrefined"][1] < 1.0


def test_without_features_the_skin_outline_start_recovers_the_motion_and_is_never_used_unrefined(monkeypatch):
    from vitiseg.tracking import register

    rgb, cls = textured_scene(8)
    H = sample_camera_motion(320, 320, np.random.default_rng(9), 1.0)
    fu = moved(rgb, cls, H)
    monkeypatch.setattr(register, "feature_homography", lambda *a: (None, 0, "too few features on the skin"))
    al = align(PhotoView(rgb, cls), fu, CFG)
    assert al.status == "aligned", al.reason
    assert al.method == "skin shape+ecc"
    err = np.linalg.norm(al.grid - homography_grid(H, cls.shape), axis=-1)
    assert np.median(err[cls > 0]) < 0.25
    unrefined = align(PhotoView(rgb, cls), fu, TrackingConfig(refine="none"))
    assert unrefined.status == "not_aligned" and unrefined.reason == "too few features on the skin"


def test_piecewise_affine_faces_follow_the_landmarks_inside_their_hull():
    base, fu, H = face_pair(0.0)
    fu.landmarks[:240] += 2.0  # half of the face moved 2 px more than the camera: not one homography
    al = align(base, fu, TrackingConfig(face_warp="piecewise_affine"))
    assert al.method == "landmarks+piecewise_affine"
    lm_idx = np.round(base.landmarks[:240]).astype(int)
    got = al.grid[lm_idx[:, 1], lm_idx[:, 0]]
    assert np.median(np.linalg.norm(got - fu.landmarks[:240], axis=1)) < 0.6


def test_warp_to_baseline_marks_what_the_follow_up_does_not_show():
    mask = np.arange(20, dtype=np.uint8).reshape(4, 5)
    grid = homography_grid(np.array([[1.0, 0, 2], [0, 1, 0], [0, 0, 1]]), (4, 5))  # shifted 2 px to the right
    out, valid = warp_to_baseline(mask, grid)
    assert valid[:, :3].all() and not valid[:, 3:].any()
    assert (out[:, :3] == mask[:, 2:]).all()


def test_a_refusal_never_shows_the_value_equal_to_its_minimum() -> None:
    from vitiseg.tracking.register import _apart

    assert _apart(0.599561, 0.6) == "0.5996 (minimum 0.6)"  # not "0.60 (minimum 0.60)"
    assert _apart(0.3, 0.4) == "0.30 (minimum 0.4)"
    assert _apart(45.0, 50.0, " %") == "45.00 % (minimum 50 %)"
