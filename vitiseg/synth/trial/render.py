"""``vitiseg synth cohort``: a synthetic visits folder whose true F-VASI / T-VASI follow a prescribed trial outcome.

Two steps:

1. **Plan** (:func:`.plan.plan_cohort`): per patient and visit, target depigmented fractions for the 7 regions, solved so that
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
   (hand units of :func:`vitiseg.config.load_regions`).

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
  PIL like :func:`vitiseg.io.images.read_rgb`), because painting and camera degradations can move the landmarks by a
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

Tracking truth (``--camera-motion S``, ``--repigmentation patterns``; off by default, and then the output is
byte-identical to a generator without them): follow-ups are taken with a moved camera and / or lesions repigment in a
drawn pattern, and ``TRUTH/tracking/`` holds the true transforms, change maps and patterns (:mod:`.tracking_truth`).

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

import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vitiseg.colour import skin_ita
from vitiseg.config import load_regions
from vitiseg.io.files import atomic_write_bytes, atomic_write_text
from vitiseg.io.images import write_png
from vitiseg.io.tables import write_csv_rows
from vitiseg.synth.backgrounds import (
    BackgroundRef,
    list_backgrounds,
    load_background,
    procedural_background,
    resize_long_side_pair,
    sample_skin_tone,
)
from vitiseg.synth.render import GENERATOR_VERSION, sample_appearance
from vitiseg.synth.shapes import make_layout

from .plan import cohort_statistics, plan_cohort
from .presets import (FACE_LANDMARK_TOL, MAX_FACE_TRIES, MIN_AREA_SKIN_SHARE, PHOTO_NAME, PRESETS, PROCEDURAL_PART,
                      REAL_STANDIN, REGION_KINDS, REGIONS)
from .scene import FaceAreaLost, RegionScene, area_counts, render_visit, truev_area
from .standins import STANDIN_TABLES, StandIn, standin_background, standin_pools
from .tracking_truth import TrackingOptions, TrackingTruth

log = logging.getLogger(__name__)


def _fraction(cls: np.ndarray) -> tuple[int, int]:
    c = np.bincount(cls.ravel(), minlength=3)
    return int(c[1] + c[2]), int(c[2])


def _fmt(x: float | None, nd: int = 6) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def _change(b: float, v: float) -> float | None:
    return None if b <= 0 else 100.0 * (v - b) / b


@dataclass
class _RenderStats:
    """How closely the rendered photos hit their planned fractions (reported in summary.json)."""

    max_err: float = 0.0
    max_face_excess: float = 0.0
    n_face_over: int = 0
    face_renders: list[int] = field(default_factory=list)

    def snapshot(self) -> tuple[float, float, int, int]:
        return self.max_err, self.max_face_excess, self.n_face_over, len(self.face_renders)

    def restore(self, snap: tuple[float, float, int, int]) -> None:
        self.max_err, self.max_face_excess, self.n_face_over, n = snap
        del self.face_renders[n:]


HELDOUT = ("test", "val")
BACKGROUND_SPLITS = {"heldout": HELDOUT, "train": ("train",)}


def _background_pools(skin_root: str | Path | None, background: str,
                      splits: tuple[str, ...] = HELDOUT) -> dict[str, list[BackgroundRef]]:
    """Backgrounds of ``splits`` (default test/val) of each stand-in set (real mode); empty for procedural ones."""
    pools: dict[str, list[BackgroundRef]] = {}
    if background == "real":
        if skin_root is None:
            raise ValueError("--skin-root is required with --background real (or use --background procedural)")
        refs = [r for r in list_backgrounds(skin_root, tuple(sorted(set(REAL_STANDIN.values()))))
                if r.split in splits]
        for s in set(REAL_STANDIN.values()):
            pools[s] = [r for r in refs if r.set == s and (s != "pratheepan_skin" or r.bg_id <= "prat_00032")] or \
                       [r for r in refs if r.set == s]
            if not pools[s]:
                raise ValueError(f"no {'/'.join(splits)} backgrounds for {s} under {skin_root}")
    elif background != "procedural":
        raise ValueError(f"unknown background mode {background!r}")
    return pools


def _patient_scenes(plan: dict[str, Any], prng: np.random.Generator, pools: dict[str, list[BackgroundRef]],
                    background: str, size: int, no_face: set[str],
                    standins: dict[str, StandIn] | None = None) -> dict[str, RegionScene]:
    """One background, lesion layout and appearance per region of a patient (drawn from ``prng``, in region order).

    A face background on which FaceMesh finds no usable facial area is added to ``no_face`` and another is drawn.
    ``standins`` (:mod:`.standins`): only those regions, from pools keyed by region, cropped as each says."""
    tone = None
    if background == "procedural":
        tone = sample_skin_tone(prng)
    used: set[str] = set()
    scenes: dict[str, RegionScene] = {}
    for reg in standins or REGIONS:
        area = None
        if background == "real":
            pool = pools[reg] if standins else pools[REAL_STANDIN[reg]]
            for _try in range(MAX_FACE_TRIES if reg == "face" else 1):
                cand = [r for r in pool if r.bg_id not in used and r.bg_id not in no_face] or \
                       [r for r in pool if r.bg_id not in no_face]
                if not cand:
                    raise ValueError(f"no {REAL_STANDIN[reg]} background with a detectable facial area")
                ref = cand[int(prng.integers(len(cand)))]
                used.add(ref.bg_id)
                if standins:  # the pool holds only photos whose crop succeeds
                    rgb, skin = standin_background(ref.image, ref.mask, standins[reg].crop)  # type: ignore[misc]
                else:
                    rgb, skin = load_background(ref.image, ref.mask)
                rgb, skin = resize_long_side_pair(rgb, skin, size)
                if reg != "face":
                    break
                area = truev_area(rgb)
                if area is not None and (skin & area).sum() >= MIN_AREA_SKIN_SHARE * max(int(skin.sum()), 1):
                    break
                log.info("face background %s/%s: no usable TRuE-V facial area; drawing another", ref.set, ref.bg_id)
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
    return scenes


def _render_visit_photos(plan: dict[str, Any], scenes: dict[str, RegionScene], vi: int, vid: str,
                         vrng: np.random.Generator, out: Path, truth: Path, stats: _RenderStats,
                         bar: tqdm, regions: tuple[str, ...] = REGIONS, tracking: TrackingTruth | None = None,
                         pi: int = 0) -> dict[str, Any]:
    """Render and write every region photo of one visit; returns the visit's truth row (fractions, pixel counts).

    ``tracking`` (tracking-truth options on): camera motion and repigmentation patterns, and their truth collected."""
    pid = plan["patient_id"]
    row: dict[str, Any] = {"patient_id": pid, "visit_id": vid, "visit_index": vi}
    for reg in regions:
        sc = scenes[reg]
        target = plan["frac"][vi][reg]
        base_frac = plan["frac"][0][reg]
        ratio = target / base_frac if base_frac > 0 else 1.0
        grow = 0.6 + 1.8 * float(np.clip(1.0 - ratio, 0.0, 1.0))
        truev = reg == "face" and sc.area is not None
        cam = tracking.camera(pi, vi, reg, sc.skin.shape) if tracking else None
        lesions = tracking.lesion_plan(pid, reg) if tracking else None
        jpg, cls, farea, meta = render_visit(sc, target, grow, vrng, jitter=vi > 0, truev=truev, camera=cam,
                                             lesions=lesions)
        rel = Path(pid) / vid / f"{PHOTO_NAME[reg]}.jpg"
        atomic_write_bytes(out / rel, jpg)
        write_png(truth / "masks" / pid / vid / f"{PHOTO_NAME[reg]}.png", cls)
        if tracking:
            tracking.record(pi, pid, vi, vid, reg, rel.name, cls, cam, meta)
        if reg == "face":
            if farea is None:  # procedural face: no landmarks, the whole photo counts
                farea = np.ones(cls.shape, bool)
            write_png(truth / "face_area" / pid / vid / f"{PHOTO_NAME[reg]}.png", farea.astype(np.uint8) * 255)
            s_all, d_all = _fraction(cls)
            row["skin_px_face_allskin"] = s_all
            row["depigmented_px_face_allskin"] = d_all
            row["frac_face_allskin"] = d_all / s_all if s_all else 0.0
            row["area_px_face"] = int(farea.sum())
            s_px, d_px = area_counts(cls, farea)
            if truev:
                stats.face_renders.append(int(meta["face_renders"]))
                stats.max_face_excess = max(stats.max_face_excess, float(meta["face_tolerance_excess"]))
                if meta["face_tolerance_excess"] > FACE_LANDMARK_TOL * target:
                    stats.n_face_over += 1
        else:
            s_px, d_px = _fraction(cls)
        frac = d_px / s_px if s_px else 0.0
        if not truev:
            stats.max_err = max(stats.max_err, abs(frac - target) - 0.001 * target - 2.0 / max(s_px, 1))
        row[f"frac_{reg}"] = frac
        row[f"target_frac_{reg}"] = target
        row[f"skin_px_{reg}"] = s_px
        row[f"depigmented_px_{reg}"] = d_px
        row[f"background_{reg}"] = sc.background
        bar.update(1)
    return row


def _pro_row(pid: str, vid: str, vi: int, visit_date: date, row: dict[str, Any], baseline: dict[str, Any],
             dlqi0: int, vrng: np.random.Generator) -> dict[str, Any]:
    """visits.csv row of one visit: its date and patient-reported outcomes plausibly tied to the true change."""
    pro: dict[str, Any] = {"patient_id": pid, "visit_id": vid, "date": visit_date.isoformat()}
    if vi == 0:
        pro["vns"] = ""
        pro["dlqi"] = dlqi0
        return pro
    fr = row["f_vasi"] / baseline["f_vasi"] if baseline["f_vasi"] > 0 else 1.0
    tr = row["t_vasi"] / baseline["t_vasi"] if baseline["t_vasi"] > 0 else 1.0
    vns = 5 if fr <= 0.1 else 4 if fr <= 0.3 else 3 if fr <= 0.7 else 2 if fr <= 1.05 else 1
    vns = int(np.clip(vns + vrng.choice([-1, 0, 0, 0, 1]), 1, 5))
    pro["vns"] = vns
    pro["dlqi"] = int(np.clip(round(dlqi0 * (0.4 + 0.6 * min(tr, 1.5)) + vrng.normal(0, 1.5)), 0, 30))
    return pro


def _patient_row(pid: str, visits: list[str], base: dict[str, Any], last: dict[str, Any],
                 t_comparable: bool = True) -> dict[str, Any]:
    """patients.csv row: baseline and final scores, % change and responder flags (T-VASI change left empty when
    not ``t_comparable``: partial T-VASI, as ``vitiseg run`` leaves it)."""
    fc, tc = _change(base["f_vasi"], last["f_vasi"]), _change(base["t_vasi"], last["t_vasi"])
    tc = tc if t_comparable else None
    fca = _change(base["f_vasi_allskin"], last["f_vasi_allskin"])
    return {
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
    }


def generate_cohort(out: str | Path, preset: str = "small", seed: int = 0, skin_root: str | Path | None = None,
                    patients: int | None = None, size: int | None = None, truth_dir: str | Path | None = None,
                    background: str = "real", progress: bool = True,
                    tracking: TrackingOptions | None = None, background_split: str = "heldout") -> dict[str, Any]:
    """Write the visits folder ``out`` and its truth folder; returns the summary (also written as summary.json).

    ``tracking``: camera motion between visits and repigmentation patterns, with their truth in ``TRUTH/tracking/``
    (:mod:`.tracking_truth`); None or options that are off leave the output byte-identical.
    ``background_split``: "heldout" (the skin sets' val/test photos: cohorts that measure a model) or "train" (their
    train photos only: a cohort-style training set, disjoint from every measurement's backgrounds)."""
    if background_split not in BACKGROUND_SPLITS:
        raise ValueError(f"unknown background split {background_split!r}; choose from {sorted(BACKGROUND_SPLITS)}")
    splits = BACKGROUND_SPLITS[background_split]
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    pr = PRESETS[preset]
    standins = STANDIN_TABLES.get(preset) if background == "real" else None
    regions = tuple(standins) if standins else REGIONS
    missing = [r for r in REGIONS if r not in regions]  # no real photo shows them: T-VASI partial, honestly
    size = int(size or pr.size)
    out = Path(out)
    truth = Path(truth_dir) if truth_dir else out.parent / f"{out.name}_truth"
    hu = {r: s.hand_units for r, s in load_regions().regions.items()}
    plans = plan_cohort(pr, np.random.default_rng([seed, 1]), patients)
    visits = list(pr.visits)
    if standins and skin_root is None:
        raise ValueError("--skin-root is required with --background real (or use --background procedural)")
    pools = standin_pools(skin_root, standins, splits) if standins else _background_pools(skin_root, background, splits)

    base_day = date(2024, 1, 8)
    visit_rows: list[dict[str, Any]] = []
    truth_rows: list[dict[str, Any]] = []
    patient_rows: list[dict[str, Any]] = []
    stats = _RenderStats()
    bar = tqdm(total=len(plans) * len(visits) * len(regions), desc="synth cohort", unit="photo", disable=not progress)
    no_face: set[str] = set()  # face backgrounds on which FaceMesh finds no usable facial area
    tt = TrackingTruth(tracking, seed, truth) if tracking is not None and tracking.enabled else None
    for pi, plan in enumerate(plans):
        pid = plan["patient_id"]
        n_rows = (len(truth_rows), len(visit_rows), stats.snapshot())
        for _attempt in range(MAX_FACE_TRIES):
            try:
                prng = np.random.default_rng([seed, 2, pi])
                scenes = _patient_scenes(plan, prng, pools, background, size, no_face, standins)
                start = base_day + timedelta(days=int(prng.integers(0, 180)))
                dlqi0 = int(np.clip(round(2 + 2.5 * plan["f"][0] + prng.normal(3, 2)), 0, 30))
                for vi, vid in enumerate(visits):
                    vrng = np.random.default_rng([seed, 3, pi, vi])
                    row = _render_visit_photos(plan, scenes, vi, vid, vrng, out, truth, stats, bar, regions, tt, pi)
                    row["f_vasi"] = hu["face"] * row["frac_face"]
                    row["t_vasi"] = sum(hu[r] * row[f"frac_{r}"] for r in regions)
                    row["f_vasi_allskin"] = hu["face"] * row["frac_face_allskin"]
                    row["t_vasi_allskin"] = row["t_vasi"] + hu["face"] * (row["frac_face_allskin"] - row["frac_face"])
                    row["target_f_vasi"] = plan["f"][vi]
                    row["target_t_vasi"] = plan["t"][vi]
                    if missing:
                        row["target_t_vasi"] = sum(hu[r] * plan["frac"][vi][r] for r in regions)
                        row["t_vasi_partial"], row["missing_regions"] = True, ";".join(missing)
                    truth_rows.append(row)
                    visit_rows.append(_pro_row(pid, vid, vi, start + timedelta(days=pr.visits[vid]), row,
                                               truth_rows[-1 - vi], dlqi0, vrng))
                patient_rows.append(_patient_row(pid, visits, truth_rows[-len(visits)], truth_rows[-1],
                                                 t_comparable=not missing))
            except FaceAreaLost as exc:  # lesions/camera hid the face: another face background for this patient
                log.info("%s: %s; drawing another face background", pid, exc)
                no_face.add(exc.bg_id)
                if tt is not None:
                    tt.forget_patient(pid)
                del truth_rows[n_rows[0]:], visit_rows[n_rows[1]:]
                stats.restore(n_rows[2])
                bar.n = pi * len(visits) * len(regions)
                bar.refresh()
                continue
            break
        else:
            raise ValueError(f"{pid}: no face background keeps a detectable facial area after rendering")
    bar.close()
    summary = _write_truth(out, truth, pr, seed, size, background, plans, visits, visit_rows, truth_rows,
                           patient_rows, stats, no_face, standins)
    if background_split != "heldout":  # recorded only when set, so default cohorts keep their bytes
        summary["background_split"] = background_split
    if tt is not None:
        summary["tracking"] = tt.write()
    if tt is not None or background_split != "heldout":
        atomic_write_text(truth / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def _write_truth(out: Path, truth: Path, pr: Any, seed: int, size: int, background: str, plans: list[dict[str, Any]],
                 visits: list[str], visit_rows: list[dict[str, Any]], truth_rows: list[dict[str, Any]],
                 patient_rows: list[dict[str, Any]], stats: _RenderStats, no_face: set[str],
                 standins: dict[str, StandIn] | None = None) -> dict[str, Any]:
    """Write ``OUT/visits.csv`` and the truth folder (visits.csv, patients.csv, summary.json); returns the summary."""
    regions = tuple(standins) if standins else REGIONS
    write_csv_rows(visit_rows, ["patient_id", "visit_id", "date", "vns", "dlqi"], out / "visits.csv")
    cols = ["patient_id", "visit_id", "visit_index", "f_vasi", "t_vasi", "target_f_vasi", "target_t_vasi",
            "f_vasi_allskin", "t_vasi_allskin"]
    for kind in ("frac", "target_frac", "skin_px", "depigmented_px", "background"):
        cols += [f"{kind}_{r}" for r in regions]
    cols += ["area_px_face", "frac_face_allskin", "skin_px_face_allskin", "depigmented_px_face_allskin"]
    if regions != REGIONS:
        cols += ["t_vasi_partial", "missing_regions"]
    fmt_rows = [{k: (_fmt(v) if isinstance(v, float) else v) for k, v in r.items()} for r in truth_rows]
    write_csv_rows(fmt_rows, cols, truth / "visits.csv")
    write_csv_rows(patient_rows, list(patient_rows[0]), truth / "patients.csv")
    achieved = cohort_statistics(truth_rows, visits)
    achieved_allskin = cohort_statistics(
        [{**r, "f_vasi": r["f_vasi_allskin"], "t_vasi": r["t_vasi_allskin"]} for r in truth_rows], visits)
    face_mode = "truev" if background == "real" else "skin"
    fr = stats.face_renders
    summary = {
        "generator": f"vitiseg.synth.cohort {GENERATOR_VERSION}",
        "preset": pr.model_dump(), "seed": seed, "patients": len(plans), "size": size, "background": background,
        "visits_dir": str(out), "truth_dir": str(truth), "achieved": achieved,
        "achieved_allskin_face": achieved_allskin,
        "face_area": face_mode,
        "render_tolerance": "per photo |fraction - target| <= 0.001 * target + 2 / skin_px (face: fraction and "
                            "skin_px within the TRuE-V facial area of the rendered photo)",
        "max_tolerance_excess": stats.max_err,
        "max_face_tolerance_excess": stats.max_face_excess,
        "face_tolerance": "per face photo |fraction in A - target| <= 0.001 * target + 2 / #(skin & A) "
                          f"+ {FACE_LANDMARK_TOL} * target (landmark movement between renders)",
        "face_photos_over_face_tolerance": stats.n_face_over,
        "face_renders_per_photo_max": max(fr) if fr else 0,
        "face_renders_per_photo_mean": float(np.mean(fr)) if fr else 0.0,
        "face_backgrounds_without_area": sorted(no_face),
        "stand_ins": ({r: f"{s.set}" + (f" ({s.crop} crop)" if s.crop else "") for r, s in standins.items()}
                      if standins else REAL_STANDIN if background == "real" else PROCEDURAL_PART),
        "truth_rule": "fraction = depigmented px / skin px of the region's photo(s); face: within the TRuE-V "
                      "facial area (face_area/ masks; the whole photo with procedural backgrounds); "
                      "F-VASI = 3 * face fraction; f_vasi_allskin = 3 * all-skin face fraction; "
                      "T-VASI = sum(hand_units * fraction), hand units of the regions config",
    }
    atomic_write_text(truth / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
    if stats.max_err > 1e-12:
        log.warning("some photos missed the render tolerance (worst excess %.3g)", stats.max_err)
    if stats.n_face_over:
        log.warning("%d face photos missed the face tolerance within the rendered facial area (worst excess %.3g)",
                    stats.n_face_over, stats.max_face_excess)
    elif stats.max_face_excess > 0:
        log.info("face photos within the landmark tolerance (worst excess over the render tolerance %.3g)",
                 stats.max_face_excess)
    log.info("cohort stats: %s", achieved)
    return summary
