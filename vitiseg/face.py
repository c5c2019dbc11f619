"""Facial area for F-VASI as the TRuE-V trials define it, built per photo from MediaPipe FaceMesh landmarks.

F-VASI (TRuE-V, Rosmarin et al. NEJM 2022) counts only the *facial area*: forehead up to the original hairline, cheeks
to the jawline, laterally from the corner of the mouth to the tragus, nose included; lips, eyelids, eyes, scalp, ears
and neck excluded. This module turns one face photo into the boolean mask of that area (before intersection with the
skin class, which the pipeline applies: hair over the forehead is not skin, so it is not counted).

Geometry (all from the 478 FaceMesh landmarks, pixel coordinates; no fixed image-axis assumption, so it follows
in-plane rotation and scale):

* Outer boundary: the FaceMesh face oval (36 points; jawline + chin below, temples, upper forehead above; ears and
  neck lie outside it, its most lateral points sit in front of the ear, i.e. the tragus limit). The oval top stops at
  the upper forehead, below the hairline, so the part of the oval above the eye line is stretched along the face's
  chin->glabella axis until the top-centre point reaches the estimated original hairline:
  ``glabella (lm 9) + HAIRLINE_RATIO * |glabella - menton (lm 152)|``. HAIRLINE_RATIO = 0.5 is the facial-thirds rule
  (trichion-glabella = half of glabella-menton) and the 95th percentile of the visible hairline on FASSEG frontal faces
  (median 0.40); where hair covers the forehead the skin class cuts the area at the hair, and on a bald scalp the
  estimated original hairline is the limit.
* Lips excluded: the outer lip contour (vermilion border), scaled by 1.06 about its centroid (landmark jitter).
* Eyes and eyelids excluded: convex hull of the lid-margin contour widened by 12 % of the eye width at the canthi, the
  lower lid down to 30 % of the eye width below the lower lid margin, and the upper lid up to 75 % of the way from the
  lid margin to the lower edge of the brow. The eyebrows stay IN the facial area (they are forehead skin; vitiligo of
  the brow is recorded by the skin class where the segmentation calls it skin).
* Nose included (inside the oval).

View partition (``face_front``, ``face_left``, ``face_right``; ``view`` = the file-name view token). Every anatomical
point of the facial area is owned by exactly one photo of the visit, defined by fixed landmark chains, so the same
landmarks bound a zone in every view and the pooled pixel fraction counts each part once:

* ``LATERAL_CHAIN_{LEFT,RIGHT}``: a mesh path from the upper-forehead oval point down the vertical through the outer
  canthus (exocanthion) to the jaw. Lateral of it is the *lateral zone* (lateral forehead/temple, lateral cheek,
  pre-auricular skin to the tragus, lateral jaw).
* ``MIDLINE_CHAIN``: forehead top -> glabella -> nasal bridge -> nose tip -> philtrum -> chin.

Rule, with ``P`` = views present in the visit:

* frontal in P: the frontal photo owns the facial area minus the lateral zone of each lateral view in P; a lateral
  photo owns only its own lateral zone. Only a frontal photo -> it owns the whole visible facial area.
* no frontal in P: a lateral photo owns the whole half face on its side (midline to tragus).

``face_left`` shows the patient's LEFT cheek (anatomical left; on a non-mirrored frontal photo that is the image
right). MediaPipe's "left" landmarks are the subject's left.

Pose: ``yaw_deg`` > 0 when the patient's left side faces the camera (head turned towards the patient's right), from
the 3-D landmark depth (cheek-to-cheek axis). Checks: frontal |yaw| > FRONTAL_MAX_YAW -> ``view_mismatch``; lateral
view turned the wrong way by more than LATERAL_WRONG_SIDE_YAW -> ``view_mismatch``; |yaw| > EXTREME_YAW or |pitch| >
EXTREME_PITCH -> ``extreme_pose``. Status values: ``ok``, ``no_face``, ``multiple_faces``, ``extreme_pose``,
``view_mismatch``, ``unknown_view``. A non-ok status is a per-photo error: there is never a fallback to "all skin";
the explicit alternative is ``--face-area skin`` (config ``face.area: skin``).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .mediapipe_solutions import solutions


log = logging.getLogger(__name__)

N_LANDMARKS = 478

#: FaceMesh face oval, in contour order (from mediapipe FACEMESH_FACE_OVAL), starting at the chin.
FACE_OVAL = (152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356, 389, 251, 284, 332, 297, 338, 10, 109, 67,
             103, 54, 21, 162, 127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148)
#: Outer lip contour (vermilion border), in order.
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
#: Lid-margin contours (subject's left / right) from FACEMESH_LEFT_EYE / FACEMESH_RIGHT_EYE.
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
#: Lower edge of the eyebrows (subject's left / right), from FACEMESH_*_EYEBROW, lateral -> medial.
LEFT_BROW_LOWER = (276, 283, 282, 295, 285)
RIGHT_BROW_LOWER = (46, 53, 52, 65, 55)
#: Outer canthus / inner canthus.
LEFT_CANTHI = (263, 362)
RIGHT_CANTHI = (33, 133)
#: Mesh path (FACEMESH_TESSELATION edges) along the vertical through the outer canthus, upper oval -> jaw oval.
#: Found once by a shortest path on the mean FASSEG frontal mesh, then mirrored so that both sides are symmetric.
LATERAL_CHAIN_LEFT = (332, 333, 293, 283, 444, 260, 466, 263, 255, 448, 449, 347, 280, 425, 427, 434, 394, 379)
LATERAL_CHAIN_RIGHT = (103, 104, 63, 53, 224, 30, 246, 33, 25, 228, 229, 118, 50, 205, 207, 214, 169, 150)
#: Facial midline, forehead top -> chin.
MIDLINE_CHAIN = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17, 18, 200,
                 199, 175, 152)

GLABELLA, MENTON, FOREHEAD_TOP = 9, 152, 10
CHEEK_RIGHT, CHEEK_LEFT = 234, 454

HAIRLINE_RATIO = 0.5
LIP_SCALE = 1.06
EYE_CANTHUS_MARGIN = 0.12
EYE_LOWER_LID = 0.30
EYE_UPPER_LID = 0.75

FRONTAL_MAX_YAW = 35.0
LATERAL_WRONG_SIDE_YAW = 15.0
EXTREME_YAW = 75.0
EXTREME_PITCH = 45.0
#: A second detected face counts when its landmark bounding box is >= this fraction of the largest face's box area.
SECOND_FACE_MIN_AREA = 0.10
MAX_FACES = 4
MIN_DETECTION_CONFIDENCE = 0.5

STATUSES = ("ok", "no_face", "multiple_faces", "extreme_pose", "view_mismatch", "unknown_view")


@dataclass(frozen=True)
class FaceArea:
    """Facial area of one face photo.

    ``mask``: ``(H, W) bool``, the facial area this photo/view is responsible for (before skin intersection), same
    H, W as the input; None unless ``status == "ok"``. ``landmarks``: ``(478, 2) float32`` pixel (x, y) of the main
    face, or None. ``yaw_deg``: see module docstring (positive = patient's left side towards the camera).
    """

    mask: np.ndarray | None
    status: str
    message: str
    landmarks: np.ndarray | None
    yaw_deg: float | None
    pitch_deg: float | None = None


# --------------------------------------------------------------------------------------------------------------------
# Views


def normalise_view(token: str) -> str:
    """Map a file-name view token to ``"front"``, ``"left"`` or ``"right"``; ValueError if it names none of them.

    ``""``, ``"front"``, ``"frontal"``, ``"front2"`` -> front; any token containing "left"/"right" -> that side.
    """
    t = (token or "").strip().lower()
    has_l, has_r = "left" in t, "right" in t
    if has_l and has_r:
        raise ValueError(f"face view {token!r} names both left and right")
    if has_l:
        return "left"
    if has_r:
        return "right"
    if t == "" or "front" in t:
        return "front"
    raise ValueError(f"face view {token!r} is not frontal ('' / 'front') nor lateral ('left' / 'right')")


def owned_zones(view: str, views_present: Collection[str] | None = None) -> str:
    """Which zone a view owns: ``"all"``, ``"all_minus_left"``, ``"all_minus_right"``, ``"all_minus_both"``,
    ``"lateral_left"``, ``"lateral_right"``, ``"half_left"`` or ``"half_right"`` (module docstring: the rule).

    ``view`` and ``views_present`` are file-name tokens; ``views_present`` None/empty means this photo is the only face
    photo of the visit. Unrecognised tokens in ``views_present`` are ignored.
    """
    v = normalise_view(view)
    present = {v}
    for tok in views_present or ():
        try:
            present.add(normalise_view(tok))
        except ValueError:
            continue
    if v == "front":
        lat = [s for s in ("left", "right") if s in present]
        return {(): "all", ("left",): "all_minus_left", ("right",): "all_minus_right",
                ("left", "right"): "all_minus_both"}[tuple(lat)]
    if "front" in present:
        return f"lateral_{v}"
    return f"half_{v}"


# --------------------------------------------------------------------------------------------------------------------
# Landmark detection (one FaceMesh per process, guarded by a lock: the graph is not re-entrant)

_MESH_LOCK = threading.Lock()
_MESH: Any = None


def _face_mesh() -> Any:
    global _MESH
    if _MESH is None:
        from .console import quiet_native_stderr

        # TFLite/absl print start-up lines to fd 2 on the first graph run: create and warm up with fd 2 silenced
        with quiet_native_stderr():
            mesh = solutions().face_mesh.FaceMesh(
                static_image_mode=True,  # every photo independent: no tracking state, deterministic
                max_num_faces=MAX_FACES,
                refine_landmarks=True,  # 478 landmarks (iris included)
                min_detection_confidence=MIN_DETECTION_CONFIDENCE,
            )
            mesh.process(np.zeros((64, 64, 3), np.uint8))
        _MESH = mesh
    return _MESH


def detect_faces(rgb: np.ndarray) -> list[np.ndarray]:
    """All faces FaceMesh finds in ``rgb`` ``(H, W, 3) uint8`` RGB, largest first.

    Returns a list of ``(478, 3) float64`` arrays: x, y in pixels, z (relative depth, smaller = nearer the camera)
    in the same pixel scale as x.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    h, w = rgb.shape[:2]
    img = np.ascontiguousarray(rgb)
    with _MESH_LOCK:
        res = _face_mesh().process(img)
    faces = []
    for fl in res.multi_face_landmarks or []:
        a = np.array([(p.x * w, p.y * h, p.z * w) for p in fl.landmark], dtype=np.float64)
        faces.append(a)
    faces.sort(key=lambda a: -_bbox_area(a[:, :2]))
    return faces


def _bbox_area(xy: np.ndarray) -> float:
    span = xy.max(0) - xy.min(0)
    return float(span[0] * span[1])


def head_pose(lm3: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees from ``(478, 3)`` landmarks (x, y, z pixel scale).

    yaw > 0: the patient's left cheek is nearer the camera (left side shown). pitch > 0: forehead nearer than chin.
    """
    e1 = lm3[CHEEK_LEFT] - lm3[CHEEK_RIGHT]
    yaw = math.degrees(math.atan2(-e1[2], float(np.hypot(e1[0], e1[1]))))
    e2 = lm3[FOREHEAD_TOP] - lm3[MENTON]
    pitch = math.degrees(math.atan2(-e2[2], float(np.hypot(e2[0], e2[1]))))
    return yaw, pitch


# --------------------------------------------------------------------------------------------------------------------
# Geometry


def fill_polygon(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """Boolean mask of the polygon ``pts`` ``(N, 2)`` float pixel (x, y), 1/16-pixel sub-pixel precision."""
    m = np.zeros(shape, np.uint8)
    p = np.round(np.asarray(pts, np.float64) * 16).astype(np.int32)
    cv2.fillPoly(m, [p], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool)


def _hull(pts: np.ndarray) -> np.ndarray:
    return cv2.convexHull(np.asarray(pts, np.float32)).reshape(-1, 2).astype(np.float64)


def extended_oval(lm: np.ndarray) -> np.ndarray:
    """Face-oval polygon ``(36, 2)`` with its upper part stretched from the eye line up to the estimated hairline.

    ``lm``: ``(478, 2)`` pixel (x, y). Points above the eye line (along the menton->glabella axis ``u``) keep their
    lateral position and have their height above the eye line multiplied by ``k``, chosen so that the oval top-centre
    (landmark 10) reaches ``glabella + HAIRLINE_RATIO * |glabella - menton|``.
    """
    u = lm[GLABELLA] - lm[MENTON]
    length = float(np.linalg.norm(u))
    u = u / max(length, 1e-6)
    o = (lm[LEFT_CANTHI[0]] + lm[RIGHT_CANTHI[0]]) / 2.0
    oval = lm[list(FACE_OVAL)].copy()
    h = (oval - o) @ u
    h_top = float((lm[FOREHEAD_TOP] - o) @ u)
    h_target = float((lm[GLABELLA] - o) @ u) + HAIRLINE_RATIO * length
    k = max(1.0, h_target / h_top) if h_top > 1e-6 else 1.0
    up = h > 0
    oval[up] += ((k - 1.0) * h[up])[:, None] * u[None, :]
    return oval


def _oval_point(lm: np.ndarray, oval: np.ndarray, idx: int) -> np.ndarray:
    """Coordinates of landmark ``idx``, taken from the extended oval when it is an oval point."""
    if idx in FACE_OVAL:
        return oval[FACE_OVAL.index(idx)]
    return lm[idx]


def _oval_arc(oval: np.ndarray, start: int, end: int, step: int) -> np.ndarray:
    """Oval points strictly between landmarks ``start`` and ``end`` walking the oval with ``step`` (+1 / -1)."""
    i, j = FACE_OVAL.index(start), FACE_OVAL.index(end)
    out = []
    n = len(FACE_OVAL)
    k = (i + step) % n
    while k != j:
        out.append(oval[k])
        k = (k + step) % n
    return np.array(out).reshape(-1, 2)


def _chain_polygon(lm: np.ndarray, oval: np.ndarray, chain: tuple[int, ...]) -> np.ndarray:
    """Polygon: the landmark chain (first and last are oval points) closed by the oval arc on the face-edge side
    that does not contain the nose tip."""
    pts = np.array([_oval_point(lm, oval, i) for i in chain])
    candidates = []
    for step in (1, -1):
        arc = _oval_arc(oval, chain[-1], chain[0], step)
        candidates.append(np.concatenate([pts, arc], 0))
    nose = lm[4]
    # the lateral/half zone is the side away from the nose (for the midline chain: the caller chooses by side)
    inside = [cv2.pointPolygonTest(c.astype(np.float32), (float(nose[0]), float(nose[1])), False) for c in candidates]
    return candidates[int(np.argmin(inside))]


def _half_polygon(lm: np.ndarray, oval: np.ndarray, side: str) -> np.ndarray:
    """Half face on the patient's ``side`` of the midline chain."""
    pts = np.array([_oval_point(lm, oval, i) for i in MIDLINE_CHAIN])
    ref = lm[CHEEK_LEFT] if side == "left" else lm[CHEEK_RIGHT]
    for step in (1, -1):
        poly = np.concatenate([pts, _oval_arc(oval, MIDLINE_CHAIN[-1], MIDLINE_CHAIN[0], step)], 0)
        probe = ref + 0.1 * (lm[4] - ref)  # a point just inside the cheek on that side
        if cv2.pointPolygonTest(poly.astype(np.float32), (float(probe[0]), float(probe[1])), False) > 0:
            return poly
    raise RuntimeError("could not build the half-face polygon")  # pragma: no cover - geometry invariant


def _eye_zone(lm: np.ndarray, lid: tuple[int, ...], canthi: tuple[int, int], brow: tuple[int, ...]) -> np.ndarray:
    """Convex polygon covering eye opening + eyelids (below the brow) for one eye."""
    p = lm[list(lid)]
    outer, inner = lm[canthi[0]], lm[canthi[1]]
    axis = outer - inner
    width = float(np.linalg.norm(axis))
    ax = axis / max(width, 1e-6)
    centre = (outer + inner) / 2.0
    # "up" for this eye: towards the brow
    brow_pts = lm[list(brow)]
    up = np.array([-ax[1], ax[0]])
    if (brow_pts.mean(0) - centre) @ up < 0:
        up = -up
    rel = p - centre
    above = rel @ up >= 0
    pts = [p]
    # canthal margins
    pts.append(np.stack([outer + EYE_CANTHUS_MARGIN * width * ax, inner - EYE_CANTHUS_MARGIN * width * ax]))
    # lower lid skin
    pts.append(p[~above] - EYE_LOWER_LID * width * up)
    # upper lid skin: towards the lower brow edge, stopping short of it
    for b in brow_pts:
        # nearest upper lid-margin point along the brow->eye direction
        q = p[above] if above.any() else p
        near = q[np.argmin(np.linalg.norm(q - b, axis=1))]
        pts.append((near + EYE_UPPER_LID * (b - near))[None, :])
    return _hull(np.concatenate(pts, 0))


def _lip_zone(lm: np.ndarray) -> np.ndarray:
    p = lm[list(LIPS_OUTER)]
    c = p.mean(0)
    return c + LIP_SCALE * (p - c)


def facial_area_from_landmarks(lm: np.ndarray, shape: tuple[int, int], zone: str = "all") -> np.ndarray:
    """TRuE-V facial-area mask ``(H, W) bool`` for landmarks ``lm`` ``(478, 2)`` pixel (x, y).

    ``zone``: as returned by :func:`owned_zones` (``"all"`` = the whole facial area visible in the photo).
    Pure geometry: no detection, no pose check.
    """
    lm = np.asarray(lm, np.float64)[:, :2]
    if lm.shape[0] < 468:
        raise ValueError(f"expected FaceMesh landmarks (478, 2), got {lm.shape}")
    oval = extended_oval(lm)
    area = fill_polygon(shape, oval)
    area &= ~fill_polygon(shape, _lip_zone(lm))
    area &= ~fill_polygon(shape, _eye_zone(lm, LEFT_EYE, LEFT_CANTHI, LEFT_BROW_LOWER))
    area &= ~fill_polygon(shape, _eye_zone(lm, RIGHT_EYE, RIGHT_CANTHI, RIGHT_BROW_LOWER))

    def lateral(side: str) -> np.ndarray:
        chain = LATERAL_CHAIN_LEFT if side == "left" else LATERAL_CHAIN_RIGHT
        return fill_polygon(shape, _chain_polygon(lm, oval, chain))

    if zone == "all":
        return area
    if zone == "all_minus_left":
        return area & ~lateral("left")
    if zone == "all_minus_right":
        return area & ~lateral("right")
    if zone == "all_minus_both":
        return area & ~lateral("left") & ~lateral("right")
    if zone in ("lateral_left", "lateral_right"):
        return area & lateral(zone.split("_")[1])
    if zone in ("half_left", "half_right"):
        side = zone.split("_")[1]
        half = fill_polygon(shape, _half_polygon(lm, oval, side))
        if side == "right":  # the midline pixels go to the left half only: the two halves never overlap
            half &= ~fill_polygon(shape, _half_polygon(lm, oval, "left"))
        return area & half
    raise ValueError(f"unknown zone {zone!r}")


# --------------------------------------------------------------------------------------------------------------------
# Public entry point


def facial_area(rgb: np.ndarray, view: str = "", views_present: Collection[str] | None = None) -> FaceArea:
    """Facial area (TRuE-V F-VASI definition) that this face photo is responsible for.

    ``rgb``: ``(H, W, 3) uint8`` RGB at working resolution. ``view``: the file-name view token (``""``/``"front"``
    frontal; containing ``"left"``/``"right"`` lateral, the patient's side shown). ``views_present``: view tokens of
    all face photos of the same visit (this one included or not); None/empty = this is the only face photo.
    Returns a :class:`FaceArea`; a non-ok status carries a message and no mask (never a fallback to all skin).
    """
    try:
        zone = owned_zones(view, views_present)
    except ValueError as exc:
        return FaceArea(None, "unknown_view", str(exc), None, None)
    v = normalise_view(view)
    faces = detect_faces(rgb)
    if not faces:
        return FaceArea(None, "no_face", "no face found by MediaPipe FaceMesh (use --face-area skin for close-ups of "
                        "one facial sub-area)", None, None)
    main_area = _bbox_area(faces[0][:, :2])
    big = [f for f in faces if _bbox_area(f[:, :2]) >= SECOND_FACE_MIN_AREA * main_area]
    lm3 = faces[0]
    lm2 = lm3[:, :2].astype(np.float32)
    yaw, pitch = head_pose(lm3)
    if len(big) > 1:
        return FaceArea(None, "multiple_faces", f"{len(big)} faces found; a face photo must show one patient", lm2,
                        yaw, pitch)
    if abs(yaw) > EXTREME_YAW or abs(pitch) > EXTREME_PITCH:
        return FaceArea(None, "extreme_pose", f"head pose too extreme for reliable landmarks (yaw {yaw:.0f} deg, "
                        f"pitch {pitch:.0f} deg; limits {EXTREME_YAW:.0f} / {EXTREME_PITCH:.0f})", lm2, yaw, pitch)
    if v == "front" and abs(yaw) > FRONTAL_MAX_YAW:
        return FaceArea(None, "view_mismatch", f"frontal view but the head is turned {yaw:+.0f} deg (limit "
                        f"{FRONTAL_MAX_YAW:.0f}); name it face_left / face_right", lm2, yaw, pitch)
    if v == "left" and yaw < -LATERAL_WRONG_SIDE_YAW or v == "right" and yaw > LATERAL_WRONG_SIDE_YAW:
        shown = "left" if yaw > 0 else "right"
        return FaceArea(None, "view_mismatch", f"view '{view}' but the photo shows the patient's {shown} side (yaw "
                        f"{yaw:+.0f} deg)", lm2, yaw, pitch)
    mask = facial_area_from_landmarks(lm2, rgb.shape[:2], zone)
    if not mask.any():
        return FaceArea(None, "no_face", f"the facial area ({zone}) lies outside the photo", lm2, yaw, pitch)
    return FaceArea(mask, "ok", "", lm2, yaw, pitch)
