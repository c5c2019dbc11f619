"""Measure calibration on synthetic photos with exact truth: colour error of the chart correction, stability of the
segmentation and the depigmented fraction under colour casts (chart path and shades-of-grey path), scale error of
rendered markers, and the hand unit on real hand photos.

    python scripts/calibration_benchmark.py --data ../shared/data [--scenes 8] [--seed 0] [--hands 24]
        [--parts colour,false,markers,lesions,hands] [--false-per-set 40] [--json FILE]

The defaults are the run recorded in ``research/2026-12-01-calibration/`` (about 13 minutes of CPU on 2 cores).

Parts (each prints its figures; ``--json FILE`` saves them all):

1. **Colour.** ``--scenes`` synthetic vitiligo photos (:func:`vitiseg.synth.render.render_sample` on real skin photos
   of the test split, lesions on 5-40 % of the skin, no camera degradation) with a ColorChecker card drawn in a
   corner at a random pose, each photographed under :data:`CASTS` (per-channel linear gains 0.7-1.25, exposure
   0.7-1.3) plus sensor noise and JPEG. Each photo goes through three paths with the shipped U-Net: ``sog`` (today's
   path: shades of grey; the card's true pixels excluded), ``chart`` (``vitiseg run``: chart found, colours
   corrected, then shades of grey), ``chart_only`` (corrected, no further normalisation). Reported: the patches' mean
   CIEDE2000 before / after correction; the change of the depigmented fraction and of the mask from the same scene's
   neutral photo (per cast, and for the neutral photo with another noise draw: the floor); the healthy skin's L*, ITA
   and CIEDE2000 against the true scene (colour as measured: corrected photo, or as taken without a chart).
1b. **False charts.** The chart search on real photos without a chart (every skin set and real_vitiligo_dev under
   ``--data``): how many get a chart accepted (a false correction) or a candidate rejected, and its time per photo.
2. **Scale.** ArUco markers drawn at random sizes (12-60 px side) and poses (tilt up to 35 deg): px-per-cm error
   against the exact scale at the marker. Then the perspective error of using the marker's scale for a lesion 5-10 cm
   away on a tilted surface (exact, from the homography). Then lesion areas in cm2 on synthetic vitiligo photos with a
   marker: measured (U-Net + marker) against the truth.
3. **Hand unit** on ``--hands`` real hand photos (hgr_hands_subset) with a rendered marker: the U-Net's hand area
   cut at the wrist (MediaPipe Hands) in cm2 against the ground-truth skin mask's, same landmarks.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import colour
import cv2
import numpy as np

from vitiseg.calibration.chart import measure_chart
from vitiseg.calibration.hand_unit import detect_hands, hand_mask
from vitiseg.calibration.photo import calibrate_photo
from vitiseg.calibration.scale import find_markers
from vitiseg.colour import ita_degrees, rgb_to_lab
from vitiseg.config import CalibrationConfig, ChartConfig, MarkerConfig, NormaliseConfig, SegmentationConfig
from vitiseg.io.images import read_mask, read_rgb, resize_long_side
from vitiseg.segmentation.base import segment_photo
from vitiseg.segmentation.load import load_segmenter
from vitiseg.synth.backgrounds import list_backgrounds, load_background, resize_long_side_pair
from vitiseg.synth.photo import jpeg_roundtrip
from vitiseg.synth.render import render_sample
from vitiseg.synth.targets import add_target, apply_cast, area_scale, chart_card, marker_sticker, place, \
    pose_homography

#: name -> (per-channel linear gains, exposure)
CASTS = {
    "neutral": ((1.0, 1.0, 1.0), 1.0),
    "warm": ((1.25, 1.0, 0.7), 1.0),
    "cool": ((0.7, 1.0, 1.25), 1.0),
    "green": ((0.8, 1.25, 0.8), 1.0),
    "magenta": ((1.2, 0.75, 1.2), 1.0),
    "dim": ((1.0, 1.0, 1.0), 0.7),
    "bright": ((1.0, 1.0, 1.0), 1.3),
    "warm_dim": ((1.25, 1.0, 0.7), 0.75),
    "cool_bright": ((0.75, 1.0, 1.2), 1.2),
}
WORK = 1024
SETS = ("fasseg_face_skin", "abdominal_skin", "hgr_hands_subset", "pratheepan_skin")


class WithoutNormalisation:
    """The same segmenter fed the photo without its colour normalisation (the ``chart_only`` path)."""

    def __init__(self, seg) -> None:
        self.seg, self.identity = seg, seg.identity
        self.colour_normalisation = NormaliseConfig(method="none")

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return self.seg.predict(rgb)


def camera(rgb: np.ndarray, seed: int) -> np.ndarray:
    """Sensor noise (2 codes + shot noise) and JPEG q90, the same draw for every cast of a scene."""
    rng = np.random.default_rng(seed)
    f = rgb.astype(np.float32)
    f += np.sqrt(4.0 + 0.09 * f) * rng.standard_normal(f.shape, dtype=np.float32)
    return jpeg_roundtrip(np.clip(f + 0.5, 0, 255).astype(np.uint8), 90)


def fraction(classes: np.ndarray) -> float:
    skin = int((classes > 0).sum())
    return float((classes == 2).sum()) / skin if skin else float("nan")


def skin_colour(rgb: np.ndarray, mask: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(median L*, ITA, median Lab) of ``mask`` pixels."""
    lab = rgb_to_lab(rgb[mask])
    med = np.median(lab, axis=0)
    return float(med[0]), ita_degrees(float(med[0]), float(med[2])), med


def de00_lab(a: np.ndarray, b: np.ndarray) -> float:
    return float(colour.delta_E(a, b, method="CIE 2000"))


def pick_backgrounds(skin_root: Path, n: int, rng: np.random.Generator):
    refs = [r for r in list_backgrounds(skin_root, SETS) if r.split == "test"]
    by_set = {s: [r for r in refs if r.set == s] for s in SETS}
    out = []
    while len(out) < n:
        s = SETS[len(out) % len(SETS)]
        pool = by_set[s]
        out.append(pool[int(rng.integers(len(pool)))])
    return out


def scene_with_chart(ref, rng: np.random.Generator, long_side: int = 768):
    bg, skin = load_background(ref.image, ref.mask)
    bg, skin = resize_long_side_pair(bg, skin, long_side)
    # a lesion share of 5-40 % of skin: a fraction that can move (the default draw is often near 0)
    rgb, cls, _ = render_sample(bg, skin, rng, target_fraction=float(rng.uniform(0.05, 0.4)), photo_strength=0.0)
    card = chart_card(40)
    width = rng.uniform(0.30, 0.40) * min(rgb.shape[:2])
    rgb, cls, covered, _ = add_target(rgb, cls, card, width, rng.uniform(-25, 25), tuple(rng.uniform(-20, 20, 2)))
    return rgb, cls, covered


def colour_part(skin_root: Path, n_scenes: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    seg = load_segmenter(SegmentationConfig(), NormaliseConfig())
    plain = WithoutNormalisation(seg)
    cfg = CalibrationConfig()
    rec: dict[str, list] = {k: [] for k in ("de_before", "de_after", "n_usable", "status", "seconds")}
    per_path: dict[str, dict[str, list]] = {p: {"dfrac": [], "dmask": [], "ferr": []} for p in ("sog", "chart",
                                                                                                "chart_only")}
    skin: dict[str, dict[str, list]] = {p: {"dL": [], "dita": [], "de": []} for p in ("as_taken", "corrected")}
    pair_dl, pair_dita = [], []
    by_cast: dict[str, dict[str, list]] = {c: {p: [] for p in per_path} for c in CASTS if c != "neutral"}
    redraw: dict[str, list] = {"sog": [], "chart": []}
    for i, ref in enumerate(pick_backgrounds(skin_root, n_scenes, rng)):
        scene, cls, covered = scene_with_chart(ref, rng)
        healthy = cls == 1
        true_f = fraction(cls)
        L0, ita0, lab0 = skin_colour(scene, healthy)
        base: dict[str, tuple[float, np.ndarray]] = {}
        corrected_colours = []
        for name, (gains, exposure) in CASTS.items():
            photo = camera(apply_cast(scene, gains, exposure), seed * 1000 + i)
            t = time.perf_counter()
            cal = calibrate_photo(photo, cfg)
            rec["seconds"].append(time.perf_counter() - t)
            ch = cal.chart
            rec["status"].append(ch.status.split(":")[0])
            if ch.correction is not None:
                rec["de_before"].append(ch.de00_before)
                rec["de_after"].append(ch.de00_after)
                rec["n_usable"].append(ch.n_usable)
            results = {
                "sog": segment_photo(photo, seg, WORK, covered).classes,
                "chart": segment_photo(cal.rgb, seg, WORK, cal.exclude).classes,
                "chart_only": segment_photo(cal.rgb, plain, WORK, cal.exclude).classes,
            }
            for path, classes in results.items():
                f = fraction(classes)
                per_path[path]["ferr"].append(100 * (f - true_f))
                if name == "neutral":
                    base[path] = (f, classes)
                else:
                    f0, c0 = base[path]
                    per_path[path]["dfrac"].append(100 * (f - f0))
                    by_cast[name][path].append(100 * (f - f0))
                    per_path[path]["dmask"].append(100 * float((classes != c0).mean()))
            for key, img in (("as_taken", photo), ("corrected", cal.rgb)):
                L, ita, lab = skin_colour(img, healthy)
                skin[key]["dL"].append(L - L0)
                skin[key]["dita"].append(ita - ita0)
                skin[key]["de"].append(de00_lab(lab, lab0))
            corrected_colours.append(skin_colour(cal.rgb, healthy)[:2])
        # the neutral photo again with another noise draw: how far noise and JPEG alone move the fraction
        again = camera(scene, seed * 1000 + i + 500)
        cal = calibrate_photo(again, cfg)
        redraw["sog"].append(100 * (fraction(segment_photo(again, seg, WORK, covered).classes) - base["sog"][0]))
        redraw["chart"].append(100 * (fraction(segment_photo(cal.rgb, seg, WORK, cal.exclude).classes)
                                      - base["chart"][0]))
        cc = np.array(corrected_colours)
        for a in range(len(cc)):
            for b in range(a + 1, len(cc)):
                pair_dl.append(abs(cc[a, 0] - cc[b, 0]))
                pair_dita.append(abs(cc[a, 1] - cc[b, 1]))
        print(f"  scene {i + 1}/{n_scenes} {ref.set}/{ref.bg_id}: true fraction {100 * true_f:.1f} %, "
              f"dE00 after {np.mean(rec['de_after'][-len(CASTS):]):.2f}", flush=True)

    def stats(x: list[float]) -> dict[str, float]:
        a = np.abs(np.asarray(x, dtype=np.float64))
        return {"mean_abs": float(a.mean()), "median_abs": float(np.median(a)), "p95_abs": float(np.percentile(a, 95)),
                "max_abs": float(a.max()), "n": int(a.size)}

    out = {
        "photos": len(rec["status"]),
        "chart_status": {s: rec["status"].count(s) for s in sorted(set(rec["status"]))},
        "patches_de00_before": stats(rec["de_before"]), "patches_de00_after": stats(rec["de_after"]),
        "patches_usable_min": int(min(rec["n_usable"])),
        "calibrate_seconds_median": float(np.median(rec["seconds"])),
        "fraction_change_pp": {p: stats(v["dfrac"]) for p, v in per_path.items()},
        "fraction_change_pp_by_cast": {c: {p: {k: round(v, 3) for k, v in stats(x).items() if k in ("mean_abs",
                                                                                                   "max_abs")}
                                           for p, x in d.items()} for c, d in by_cast.items()},
        "fraction_change_pp_noise_redraw": {p: stats(v) for p, v in redraw.items()},
        "mask_pixels_changed_pct": {p: stats(v["dmask"]) for p, v in per_path.items()},
        "fraction_error_vs_truth_pp": {p: stats(v["ferr"]) for p, v in per_path.items()},
        "skin_colour_vs_truth": {k: {m: stats(v) for m, v in d.items()} for k, d in skin.items()},
        "skin_colour_between_casts_corrected": {"dL": stats(pair_dl), "dita": stats(pair_dita)},
    }
    return out


def false_charts(data: Path, per_set: int) -> dict:
    """The chart search on photos without a chart, ``per_set`` evenly spaced photos of each skin set and of
    real_vitiligo_dev (0: all): accepted charts are false corrections."""
    folders = sorted((data / "skin").glob("*/images")) + [data / "real_vitiligo_dev" / "images"]
    paths = []
    for folder in folders:
        files = sorted(folder.glob("*"))
        if per_set and len(files) > per_set:
            files = [files[i] for i in np.linspace(0, len(files) - 1, per_set).round().astype(int)]
        paths += files
    status, seconds = [], []
    for p in paths:
        rgb = resize_long_side(read_rgb(p), WORK)
        t = time.perf_counter()
        status.append(measure_chart(rgb, ChartConfig()).status.split(":")[0])
        seconds.append(time.perf_counter() - t)
    return {"photos": len(paths), "status": {s: status.count(s) for s in sorted(set(status))},
            "seconds_median": float(np.median(seconds))}


def scale_markers(n: int, seed: int) -> dict:
    """px/cm error of rendered markers at random sizes and poses, with casts and camera noise."""
    rng = np.random.default_rng(seed)
    cfg = MarkerConfig(size_cm=2.0)
    rows = []
    for k in range(n):
        scene = np.empty((768, 1024, 3), np.uint8)
        scene[:] = rng.integers(90, 220, 3)
        sticker, side = marker_sticker(cfg.dictionary, int(rng.integers(50)), 20)
        marker_px = rng.uniform(12, 60)
        width = marker_px * sticker.shape[1] / side
        tilt = tuple(rng.uniform(-35, 35, 2))
        hm = pose_homography(sticker.shape[1::-1], (rng.uniform(100, 924), rng.uniform(100, 668)), width,
                             rng.uniform(-180, 180), tilt)
        photo, _ = place(scene, sticker, hm)
        gains = rng.uniform(0.7, 1.25, 3)
        photo = camera(apply_cast(photo, tuple(gains), rng.uniform(0.7, 1.3)), seed + k)
        true = np.sqrt(area_scale(hm, (sticker.shape[1] / 2, sticker.shape[0] / 2))) * side / cfg.size_cm
        res = find_markers(photo, cfg)
        rows.append((marker_px, max(abs(t) for t in tilt), true, res.px_per_cm))
    a = np.array(rows)
    found = np.isfinite(a[:, 3])
    err = 100 * (a[found, 3] / a[found, 2] - 1)
    out = {"n": n, "detected": int(found.sum()), "err_pct_median": float(np.median(err)),
           "abs_err_pct_median": float(np.median(np.abs(err))),
           "abs_err_pct_p95": float(np.percentile(np.abs(err), 95)),
           "abs_err_pct_max": float(np.abs(err).max()), "by_size": {}}
    for lo, hi in ((12, 20), (20, 35), (35, 61)):
        sel = (a[:, 0] >= lo) & (a[:, 0] < hi)
        f = sel & found
        e = 100 * np.abs(a[f, 3] / a[f, 2] - 1)
        out["by_size"][f"{lo}-{hi} px"] = {"n": int(sel.sum()), "detected": int(f.sum()),
                                          "abs_err_pct_median": float(np.median(e)) if e.size else None,
                                          "abs_err_pct_max": float(e.max()) if e.size else None}
    return out


def perspective_error() -> dict:
    """Area-scale error of a marker's scale applied to a point ``d`` cm away on a plane tilted by ``t`` degrees, for a
    camera whose field of view is 50 deg across 1024 px and a surface 40 cm away (exact, from the homography)."""
    focal = 512 / np.tan(np.radians(25))
    ppc_face_on = focal / 40.0  # px per cm of a surface 40 cm away, seen face on
    out = {}
    for tilt in (10, 20, 30, 45):
        for d in (5, 10):
            # the plane's grid in cm; the marker at its centre
            hm = pose_homography((100.0, 100.0), (512, 384), 100 * ppc_face_on, 0.0, (tilt, 0.0), focal)
            at_marker = area_scale(hm, (50, 50))
            worst = max(abs(area_scale(hm, (50 + d * np.cos(a), 50 + d * np.sin(a))) / at_marker - 1)
                        for a in np.linspace(0, 2 * np.pi, 16, endpoint=False))
            out[f"tilt {tilt} deg, {d} cm away"] = 100 * worst
    return out


def lesion_areas(skin_root: Path, n: int, seed: int) -> dict:
    """Depigmented area in cm2 on synthetic vitiligo photos with a 2-cm marker (face-on): U-Net + marker scale
    against the truth, and the scale alone (true lesion pixels over the measured scale)."""
    rng = np.random.default_rng(seed + 7)
    seg = load_segmenter(SegmentationConfig(), NormaliseConfig())
    cfg = CalibrationConfig(marker=MarkerConfig(size_cm=2.0))
    full, scale_only = [], []
    for ref in pick_backgrounds(skin_root, n, rng):
        bg, skin = load_background(ref.image, ref.mask)
        bg, skin = resize_long_side_pair(bg, skin, 768)
        rgb, cls, _ = render_sample(bg, skin, rng, target_fraction=float(rng.uniform(0.1, 0.4)), photo_strength=0.0)
        sticker, side = marker_sticker(cfg.marker.dictionary, 7, 10)
        marker_px = rng.uniform(25, 50)
        rgb, cls, _, _ = add_target(rgb, cls, sticker, marker_px * sticker.shape[1] / side, rng.uniform(-180, 180))
        true_ppc = marker_px / cfg.marker.size_cm
        photo = camera(rgb, int(rng.integers(1 << 30)))
        cal = calibrate_photo(photo, cfg)
        if not np.isfinite(cal.scale.px_per_cm):
            continue
        classes = segment_photo(cal.rgb, seg, WORK, cal.exclude).classes
        true_cm2 = (cls == 2).sum() / true_ppc**2
        full.append(100 * ((classes == 2).sum() / cal.scale.px_per_cm**2 / true_cm2 - 1))
        scale_only.append(100 * ((cls == 2).sum() / cal.scale.px_per_cm**2 / true_cm2 - 1))
    f, s = np.abs(full), np.abs(scale_only)
    return {"photos": len(full), "scale_only_abs_err_pct_median": float(np.median(s)),
            "scale_only_abs_err_pct_max": float(s.max()), "unet_and_scale_abs_err_pct_median": float(np.median(f)),
            "unet_and_scale_err_pct_median": float(np.median(full)), "unet_and_scale_abs_err_pct_p90":
            float(np.percentile(f, 90))}


def hand_part(skin_root: Path, n: int, seed: int) -> dict:
    """Hand unit on real hand photos: U-Net skin vs ground-truth skin, cut with the same MediaPipe landmarks, each
    through the measured marker scale, against the truth (ground truth through the exact scale)."""
    rng = np.random.default_rng(seed + 11)
    seg = load_segmenter(SegmentationConfig(), NormaliseConfig())
    cfg = CalibrationConfig(marker=MarkerConfig(size_cm=2.0))
    images = sorted((skin_root / "hgr_hands_subset" / "images").glob("*"))
    images = [images[i] for i in rng.permutation(len(images))[:n]]
    errs, seg_errs, n_one = [], [], 0
    for path in images:
        rgb = resize_long_side(read_rgb(path), WORK)
        gt = read_mask(skin_root / "hgr_hands_subset" / "masks" / (path.stem + ".png"))
        gt = cv2.resize(gt, rgb.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
        cls = gt.astype(np.uint8)
        sticker, side = marker_sticker(cfg.marker.dictionary, 5, 10)
        marker_px = 50.0  # 25 px per cm: an 18-cm hand spans 450 px
        rgb, cls, _, _ = add_target(rgb, cls, sticker, marker_px * sticker.shape[1] / side, rng.uniform(-30, 30))
        gt = cls > 0
        hands = detect_hands(rgb)
        if len(hands) != 1:
            continue
        n_one += 1
        cal = calibrate_photo(rgb, cfg)
        if not np.isfinite(cal.scale.px_per_cm):
            continue
        classes = segment_photo(cal.rgb, seg, WORK, cal.exclude).classes
        true_cm2 = hand_mask(gt, hands[0]).sum() / (marker_px / cfg.marker.size_cm) ** 2
        if true_cm2 <= 0:
            continue
        measured = hand_mask(classes > 0, hands[0]).sum() / cal.scale.px_per_cm**2
        errs.append(100 * (measured / true_cm2 - 1))
        seg_errs.append(100 * (hand_mask(classes > 0, hands[0]).sum() / hand_mask(gt, hands[0]).sum() - 1))
    e = np.abs(errs)
    return {"photos": n, "one_hand_found": n_one, "measured": len(errs), "abs_err_pct_median": float(np.median(e)),
            "abs_err_pct_p90": float(np.percentile(e, 90)), "err_pct_median": float(np.median(errs)),
            "segmentation_err_pct_median": float(np.median(seg_errs))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("../shared/data"), help="holds skin/ and real_vitiligo_dev/")
    ap.add_argument("--scenes", type=int, default=8)
    ap.add_argument("--markers", type=int, default=300)
    ap.add_argument("--lesions", type=int, default=10)
    ap.add_argument("--hands", type=int, default=24)
    ap.add_argument("--false-per-set", type=int, default=40, help="photos per set for the false-chart part; 0: all")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--parts", default="colour,false,markers,lesions,hands")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    skin_root, parts = args.data / "skin", set(args.parts.split(","))
    runs = {
        "colour": ("1. colour chart under casts", lambda: colour_part(skin_root, args.scenes, args.seed)),
        "false": ("1b. chart search on photos without a chart", lambda: false_charts(args.data, args.false_per_set)),
        "markers": ("2a. marker scale", lambda: scale_markers(args.markers, args.seed)),
        "perspective": ("2b. perspective (exact)", perspective_error),
        "lesions": ("2c. lesion areas in cm2", lambda: lesion_areas(skin_root, args.lesions, args.seed)),
        "hands": ("3. hand unit", lambda: hand_part(skin_root, args.hands, args.seed)),
    }
    results = {}
    for key, (title, fn) in runs.items():
        if key in parts or (key == "perspective" and "markers" in parts):
            print(title, flush=True)
            results[key] = fn()
            print(json.dumps(results[key], indent=1), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
