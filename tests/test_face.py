"""Tests for vitiseg.face: TRuE-V facial area from FaceMesh landmarks.

Real frontal face photos come from ../shared/data/skin/fasseg_face_skin at test time (skipped cleanly when absent);
lateral views are rendered from them by rotating the FaceMesh 3-D mesh and warping its texture triangle by triangle.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest

from vitiseg import face

from helpers import FASSEG
PHOTOS = ("f03_038.jpg", "f02_test_01.png", "f03_123.jpg")


def _load(name: str) -> tuple[np.ndarray, np.ndarray]:
    img = FASSEG / "images" / name
    msk = FASSEG / "masks" / (Path(name).stem + ".png")
    if not img.is_file() or not msk.is_file():
        pytest.skip(f"FASSEG face photos not available ({img})")
    rgb = cv2.cvtColor(cv2.imread(str(img), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    skin = cv2.imread(str(msk), cv2.IMREAD_GRAYSCALE) > 0
    return rgb, skin


@pytest.fixture(scope="module")
def photos() -> dict[str, tuple[np.ndarray, np.ndarray, face.FaceArea]]:
    out = {}
    for n in PHOTOS:
        rgb, skin = _load(n)
        fa = face.facial_area(rgb, "front")
        assert fa.status == "ok", (n, fa.status, fa.message)
        out[n] = (rgb, skin, fa)
    return out


def _at(mask: np.ndarray, xy: np.ndarray) -> bool:
    x, y = int(round(float(xy[0]))), int(round(float(xy[1])))
    return bool(mask[y, x])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


# ---------------------------------------------------------------------------------------------------------------
# Views and partition rule (pure)


def test_normalise_view() -> None:
    assert face.normalise_view("") == "front"
    assert face.normalise_view("front") == "front"
    assert face.normalise_view("Left") == "left"
    assert face.normalise_view("right2") == "right"
    with pytest.raises(ValueError):
        face.normalise_view("oblique")
    with pytest.raises(ValueError):
        face.normalise_view("left_right")


def test_owned_zones_rule() -> None:
    assert face.owned_zones("front") == "all"
    assert face.owned_zones("", frozenset()) == "all"
    assert face.owned_zones("front", {"front", "left"}) == "all_minus_left"
    assert face.owned_zones("front", {"front", "left", "right"}) == "all_minus_both"
    assert face.owned_zones("left", {"front", "left", "right"}) == "lateral_left"
    assert face.owned_zones("right", {"", "right"}) == "lateral_right"
    assert face.owned_zones("left") == "half_left"
    assert face.owned_zones("right", {"left", "right"}) == "half_right"


def test_zones_partition_the_facial_area(photos) -> None:
    rgb, _, fa = photos[PHOTOS[0]]
    shape = rgb.shape[:2]
    z = {k: face.facial_area_from_landmarks(fa.landmarks, shape, k) for k in
         ("all", "all_minus_both", "lateral_left", "lateral_right", "half_left", "half_right", "all_minus_left")}
    assert np.array_equal(z["all"], fa.mask)
    parts = [z["all_minus_both"], z["lateral_left"], z["lateral_right"]]
    assert np.array_equal(parts[0] | parts[1] | parts[2], z["all"])
    assert not (parts[0] & parts[1]).any() and not (parts[0] & parts[2]).any() and not (parts[1] & parts[2]).any()
    assert np.array_equal(z["half_left"] | z["half_right"], z["all"])
    assert not (z["half_left"] & z["half_right"]).any()
    assert np.array_equal(z["all_minus_left"] | z["lateral_left"], z["all"])
    # the lateral zones are real parts of the face, on the correct image side (subject's left = image right)
    total = z["all"].sum()
    for side, sign in (("left", 1), ("right", -1)):
        lat = z[f"lateral_{side}"]
        assert 0.05 * total < lat.sum() < 0.35 * total
        xs = np.nonzero(lat)[1]
        assert sign * (xs.mean() - fa.landmarks[4, 0]) > 0


# ---------------------------------------------------------------------------------------------------------------
# Anatomy on real photos

LIPS_IN = (0, 17, 13, 14, 61, 291, 37, 267, 84, 314)
EYES_IN = (468, 473, 159, 145, 386, 374, 33, 133, 263, 362)
FACE_IN = (4, 1, 6, 195, 5, 48, 278, 50, 280, 205, 425, 151, 9, 199, 105, 334, 116, 345)


@pytest.mark.parametrize("name", PHOTOS)
def test_area_excludes_lips_and_eyes_includes_nose(photos, name) -> None:
    _, _, fa = photos[name]
    lm, m = fa.landmarks, fa.mask
    assert m.dtype == bool and m.shape == photos[name][0].shape[:2]
    for i in LIPS_IN:
        assert not _at(m, lm[i]), f"lip landmark {i} inside the facial area"
    for a, b in ((0, 13), (17, 14)):  # middle of the upper / lower vermilion
        assert not _at(m, (lm[a] + lm[b]) / 2)
    for i in EYES_IN:
        assert not _at(m, lm[i]), f"eye landmark {i} inside the facial area"
    # upper eyelid skin: halfway between the upper lid margin and the lower brow edge
    for lid, brow in ((159, 52), (386, 282)):
        assert not _at(m, (lm[lid] + lm[brow]) / 2)
    for i in FACE_IN:
        assert _at(m, lm[i]), f"landmark {i} (nose / cheek / forehead / chin / brow) missing from the facial area"


@pytest.mark.parametrize("name", PHOTOS)
def test_area_stops_at_jawline_and_tragus(photos, name) -> None:
    rgb, skin, fa = photos[name]
    lm, m = fa.landmarks.astype(np.float64), fa.mask
    u = lm[9] - lm[152]
    length = np.linalg.norm(u)
    u /= length
    e = np.array([u[1], -u[0]])  # towards the subject's left (image right)
    if (lm[454] - lm[234]) @ e < 0:
        e = -e
    yy, xx = np.mgrid[0 : m.shape[0], 0 : m.shape[1]]
    pts = np.stack([xx, yy], -1).astype(np.float64)
    height = (pts - lm[152]) @ u
    # nothing below the chin (tolerance 2 % of glabella-menton)
    assert not (m & (height < -0.02 * length)).any()
    # the neck skin of the photo (below the chin) is present and excluded
    neck = skin & (height < -0.05 * length)
    if name.startswith("f03"):  # frontal03 photos show the neck (f02_test_01 is cropped at the chin)
        assert neck.sum() > 500
    assert not (m & neck).any()
    # nothing lateral of the tragus region (ears): beyond the oval's widest points by 3 % of face width
    lat = (pts - (lm[234] + lm[454]) / 2) @ e
    half_w = (lm[454] - lm[234]) @ e / 2
    assert not (m & (np.abs(lat) > 1.03 * half_w)).any()
    # counted skin is a strict subset of all skin: the definition removes a real share
    assert 0.05 < 1 - (m & skin).sum() / skin.sum() < 0.6


def test_forehead_reaches_hairline(photos) -> None:
    """The stretched oval goes above the FaceMesh oval top, so on FASSEG the counted forehead skin reaches the hair."""
    for name in PHOTOS:
        rgb, skin, fa = photos[name]
        lm = fa.landmarks.astype(np.float64)
        x = int(round(lm[10, 0]))
        col_m = np.nonzero(fa.mask[:, x])[0]
        col_s = np.nonzero(skin[: int(lm[9, 1]), x])[0]
        top_area, top_skin = col_m.min(), col_s.min()
        assert top_area < lm[10, 1] - 5  # above the FaceMesh oval top
        assert top_area <= top_skin + 2  # reaches (or passes) the visible hairline: hair is cut by the skin class


# ---------------------------------------------------------------------------------------------------------------
# Robustness: rotation and scale


def _rotate(rgb: np.ndarray, deg: float) -> tuple[np.ndarray, np.ndarray]:
    h, w = rgb.shape[:2]
    M = cv2.getRotationMatrix2D((w / 2, h / 2), deg, 1.0)
    c, s = abs(M[0, 0]), abs(M[0, 1])
    nw, nh = int(h * s + w * c), int(h * c + w * s)
    M[0, 2] += nw / 2 - w / 2
    M[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(rgb, M, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE), M


@pytest.mark.parametrize("deg", [-20, 20])
def test_rotation_invariance(photos, deg) -> None:
    for name in PHOTOS[:2]:
        rgb, _, fa = photos[name]
        rot, M = _rotate(rgb, deg)
        fr = face.facial_area(rot, "front")
        assert fr.status == "ok", fr.message
        h, w = rgb.shape[:2]
        back = cv2.warpAffine(fr.mask.astype(np.uint8), cv2.invertAffineTransform(M), (w, h),
                              flags=cv2.INTER_NEAREST) > 0
        assert _iou(back, fa.mask) > 0.93, (name, deg, _iou(back, fa.mask))
        assert abs(fr.mask.sum() / fa.mask.sum() - 1) < 0.06


@pytest.mark.parametrize("scale", [0.5, 2.0])
def test_scale_invariance(photos, scale) -> None:
    for name in PHOTOS[:2]:
        rgb, _, fa = photos[name]
        h, w = rgb.shape[:2]
        sc = cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA if scale < 1
                        else cv2.INTER_CUBIC)
        fs = face.facial_area(sc, "front")
        assert fs.status == "ok", fs.message
        back = cv2.resize(fs.mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
        assert _iou(back, fa.mask) > 0.93, (name, scale, _iou(back, fa.mask))
        # area fraction of the photo covered by the facial area is scale-free
        assert abs(fs.mask.mean() / fa.mask.mean() - 1) < 0.06


# ---------------------------------------------------------------------------------------------------------------
# Statuses


def test_no_face_on_blank_and_noise() -> None:
    blank = np.full((480, 640, 3), 128, np.uint8)
    noise = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for img in (blank, noise):
        fa = face.facial_area(img, "front")
        assert fa.status == "no_face" and fa.mask is None and "no face" in fa.message


def test_multiple_faces_side_by_side(photos) -> None:
    a = photos[PHOTOS[0]][0]
    b = photos[PHOTOS[2]][0]
    h = min(a.shape[0], b.shape[0])
    two = np.ascontiguousarray(np.concatenate([a[:h], b[:h]], 1))
    fa = face.facial_area(two, "front")
    assert fa.status == "multiple_faces" and fa.mask is None
    assert "2 faces" in fa.message


def test_unknown_view() -> None:
    fa = face.facial_area(np.zeros((64, 64, 3), np.uint8), "oblique")
    assert fa.status == "unknown_view" and fa.mask is None


def test_extreme_pose_from_landmarks(photos, monkeypatch) -> None:
    """Rotate the real 3-D landmarks by 80 deg of yaw: the decision must be extreme_pose, not a mask."""
    rgb = photos[PHOTOS[0]][0]
    lm3 = face.detect_faces(rgb)[0]
    c = lm3.mean(0)
    t = np.radians(80)
    R = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    rot = (lm3 - c) @ R.T + c
    monkeypatch.setattr(face, "detect_faces", lambda _rgb: [rot])
    fa = face.facial_area(rgb, "left")
    assert fa.status == "extreme_pose" and fa.mask is None and fa.yaw_deg > face.EXTREME_YAW


# ---------------------------------------------------------------------------------------------------------------
# Lateral views (rendered by rotating the FaceMesh mesh)


def _triangles() -> list[tuple[int, int, int]]:
    import mediapipe as mp

    adj: dict[int, set[int]] = {}
    for a, b in mp.solutions.face_mesh.FACEMESH_TESSELATION:
        adj.setdefault(a, set()).add(b)
        adj.setdefault(b, set()).add(a)
    return sorted({tuple(sorted((a, b, c))) for a, b in mp.solutions.face_mesh.FACEMESH_TESSELATION
                   for c in adj[a] & adj[b]})


def _render_yaw(rgb: np.ndarray, lm3: np.ndarray, deg: float) -> np.ndarray:
    """Texture of the face mesh re-projected after a yaw of ``deg`` (> 0 shows the patient's left), grey elsewhere."""
    h, w = rgb.shape[:2]
    c = lm3.mean(0)
    t = np.radians(deg)
    R = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    q = (lm3 - c) @ R.T + c
    out = np.full_like(rgb, 200)
    tris = _triangles()
    depth = [q[list(tr), 2].mean() for tr in tris]
    for k in np.argsort(depth)[::-1]:  # far triangles first
        tr = list(tris[k])
        dst = q[tr, :2]
        x0, y0 = np.maximum(np.floor(dst.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(dst.max(0)).astype(int) + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        d = (dst - (x0, y0)).astype(np.float32)
        M = cv2.getAffineTransform(lm3[tr, :2].astype(np.float32), d)
        patch = cv2.warpAffine(rgb, M, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        tm = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillConvexPoly(tm, np.round(d * 16).astype(np.int32), 1, shift=4)
        roi = out[y0:y1, x0:x1]
        roi[tm > 0] = patch[tm > 0]
    return out


@pytest.fixture(scope="module")
def lateral(photos) -> dict:
    rgb = photos[PHOTOS[0]][0]
    lm3 = face.detect_faces(rgb)[0]
    return {deg: _render_yaw(rgb, lm3, deg) for deg in (-30, 30)}


def test_lateral_yaw_sign_and_view_mismatch(lateral) -> None:
    left_img, right_img = lateral[30], lateral[-30]
    fl = face.facial_area(left_img, "left", {"front", "left", "right"})
    fr = face.facial_area(right_img, "right", {"front", "left", "right"})
    assert fl.status == "ok" and fl.yaw_deg > 10, (fl.status, fl.yaw_deg)
    assert fr.status == "ok" and fr.yaw_deg < -10, (fr.status, fr.yaw_deg)
    wrong = face.facial_area(left_img, "right", {"front", "right"})
    assert wrong.status == "view_mismatch" and wrong.mask is None and "left side" in wrong.message
    # a lateral view owns only its own lateral zone: on the image right (patient's left) of the nose
    assert fl.mask.sum() > 0
    assert (np.nonzero(fl.mask)[1] > fl.landmarks[4, 0]).mean() > 0.97


def test_lateral_zone_is_the_same_anatomy_in_both_views(photos, lateral) -> None:
    """The landmarks inside the left lateral zone are the same in the frontal photo and in the 30 deg left view."""
    rgb, _, f0 = photos[PHOTOS[0]]
    f1 = face.facial_area(lateral[30], "left", {"front", "left"})
    assert f1.status == "ok"
    boundary = set(face.LATERAL_CHAIN_LEFT) | set(face.FACE_OVAL)
    z0 = face.facial_area_from_landmarks(f0.landmarks, rgb.shape[:2], "lateral_left")
    idx = [i for i in range(468) if i not in boundary]
    a = np.array([_at(z0, f0.landmarks[i]) for i in idx])
    b = np.array([_at(f1.mask, f1.landmarks[i]) for i in idx])
    assert a.sum() > 20
    agree = (a == b).mean()
    assert agree > 0.97, agree
    # and the frontal photo of the same visit leaves exactly that zone to the lateral view
    fr = face.facial_area(rgb, "front", {"front", "left"})
    assert np.array_equal(fr.mask, f0.mask & ~z0)


# ---------------------------------------------------------------------------------------------------------------
# Determinism, thread safety


def test_deterministic_and_thread_safe(photos) -> None:
    imgs = [photos[n][0] for n in PHOTOS[:2]]
    ref = [face.facial_area(i, "front").mask for i in imgs]
    again = face.facial_area(imgs[0], "front").mask
    assert np.array_equal(again, ref[0])
    with ThreadPoolExecutor(max_workers=2) as ex:
        got = list(ex.map(lambda i: face.facial_area(imgs[i % 2], "front").mask, range(4)))
    for k, g in enumerate(got):
        assert np.array_equal(g, ref[k % 2])
