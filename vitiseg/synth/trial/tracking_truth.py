"""Ground truth for follow-up tracking (``vitiseg synth cohort --camera-motion S --repigmentation patterns``).

Both options are off by default, and then nothing here runs: the cohort is byte-identical to one made without them.
With either option, the truth folder gains ``TRUTH/tracking/``:

* ``transforms.csv``: per follow-up photo, ``h00..h22``, the homography that maps a pixel of the patient's baseline
  photo of that region to the follow-up photo (:mod:`.motion` conventions; the identity without camera motion, the
  follow-ups then keep the default small jitter and its transform is not recorded: ``h00`` is empty), and the photo
  size.
* ``changes/<patient>/<visit>/<photo>.png``: the true change map in the baseline frame, codes of
  :mod:`vitiseg.tracking.changes`: baseline truth mask against the follow-up's lesions in the baseline frame, over the
  baseline skin that the follow-up photo shows (all skin of the photo; the faces' facial area is in ``face_area/``).
* ``lesions.csv``: per baseline lesion (ids: :func:`.repigment.lesion_labels` of the baseline truth mask) and
  follow-up visit: its true pattern (``marginal`` / ``perifollicular`` / ``mixed`` with ``--repigmentation
  patterns``, empty otherwise), how the visit was rendered (``patterns``, or ``threshold`` when the planned fraction
  did not fall), baseline px, centroid, and the px of it that the follow-up shows and that are still depigmented.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from vitiseg.io.images import write_png
from vitiseg.io.tables import write_csv
from vitiseg.tracking.changes import change_codes

from .motion import sample_camera_motion, visible_in
from .presets import REGIONS
from .repigment import LesionPlan, lesion_labels, plan_lesions

TRANSFORM_COLUMNS = ["patient_id", "visit_id", "photo", "width", "height"] + [f"h{i}{j}" for i in range(3)
                                                                              for j in range(3)]
LESION_COLUMNS = ["patient_id", "photo", "lesion_id", "visit_id", "pattern", "rendered", "baseline_px",
                  "centroid_x", "centroid_y", "visible_px", "depigmented_px", "repigmented_share"]


@dataclass(frozen=True)
class TrackingOptions:
    """``camera_motion``: strength of the camera motion between visits (0 = the default small jitter; 1 = the
    ranges of :mod:`.motion`). ``repigmentation``: ``threshold`` (default: lesions shrink from their borders as their
    threshold rises while follicle islands grow) or ``patterns`` (:mod:`.repigment`)."""

    camera_motion: float = 0.0
    repigmentation: str = "threshold"

    def __post_init__(self) -> None:
        if self.camera_motion < 0:
            raise ValueError(f"--camera-motion must be >= 0, not {self.camera_motion}")
        if self.repigmentation not in ("threshold", "patterns"):
            raise ValueError(f"--repigmentation must be 'threshold' or 'patterns', not {self.repigmentation!r}")

    @property
    def enabled(self) -> bool:
        return self.camera_motion > 0 or self.repigmentation == "patterns"


@dataclass
class _Baseline:
    cls: np.ndarray
    labels: np.ndarray
    n: int
    plan: LesionPlan | None


@dataclass
class TrackingTruth:
    """Draws the per-visit camera motion and lesion plans of a cohort and collects / writes its tracking truth.

    Random streams are separate from the cohort's (``[seed, 5, patient, visit, region]`` for the camera,
    ``[seed, 6, patient, region]`` for the lesion plans), so the lesions and photos are those of the same cohort
    without the options, seen by a moved camera."""

    options: TrackingOptions
    seed: int
    truth: Path
    transforms: list[dict[str, Any]] = field(default_factory=list)
    lesions: list[dict[str, Any]] = field(default_factory=list)
    _baselines: dict[tuple[str, str], _Baseline] = field(default_factory=dict)

    def camera(self, pi: int, vi: int, reg: str, shape: tuple[int, int]) -> np.ndarray | None:
        """The baseline -> visit homography of a region photo (the identity without camera motion); None for the
        baseline visit."""
        if vi == 0:
            return None
        if self.options.camera_motion <= 0:
            return np.eye(3)
        rng = np.random.default_rng([self.seed, 5, pi, vi, REGIONS.index(reg)])
        return sample_camera_motion(shape[1], shape[0], rng, self.options.camera_motion)

    def lesion_plan(self, pid: str, reg: str) -> LesionPlan | None:
        """The repigmentation plan of a region's baseline lesions (``patterns`` mode, after the baseline visit)."""
        b = self._baselines.get((pid, reg))
        return b.plan if b is not None else None

    def forget_patient(self, pid: str) -> None:
        """Drop what was collected for a patient that is being redrawn."""
        self.transforms = [r for r in self.transforms if r["patient_id"] != pid]
        self.lesions = [r for r in self.lesions if r["patient_id"] != pid]
        self._baselines = {k: v for k, v in self._baselines.items() if k[0] != pid}

    def record(self, pi: int, pid: str, vi: int, vid: str, reg: str, photo: str, cls: np.ndarray,
               camera: np.ndarray | None, meta: dict[str, Any]) -> None:
        """Collect one rendered photo: ``cls`` its truth mask (H,W) uint8; ``meta`` from
        :func:`.scene.render_visit` (``scene_classes``: the visit in the baseline frame)."""
        if vi == 0:
            labels, n = lesion_labels(cls)
            plan = None
            if self.options.repigmentation == "patterns":
                plan = plan_lesions(cls, np.random.default_rng([self.seed, 6, pi, REGIONS.index(reg)]))
            self._baselines[(pid, reg)] = _Baseline(cls, labels, n, plan)
            return
        base = self._baselines[(pid, reg)]
        h, w = cls.shape
        row: dict[str, Any] = {"patient_id": pid, "visit_id": vid, "photo": photo, "width": w, "height": h}
        row.update({f"h{i}{j}": repr(float(camera[i, j])) for i in range(3) for j in range(3)})
        self.transforms.append(row)
        visible = visible_in(camera, cls.shape)
        scene = meta["scene_classes"]
        codes = change_codes(base.cls, scene, visible)
        write_png(self.truth / "tracking" / "changes" / pid / vid / f"{Path(photo).stem}.png", codes)
        idx = np.arange(1, base.n + 1)
        area = ndimage.sum_labels(np.ones(cls.shape), base.labels, idx)
        vis = ndimage.sum_labels(visible, base.labels, idx)
        dep = ndimage.sum_labels(visible & (scene == 2), base.labels, idx)
        com = ndimage.center_of_mass(np.ones(cls.shape), base.labels, idx) if base.n else []
        for k in range(base.n):
            self.lesions.append({
                "patient_id": pid, "photo": photo, "lesion_id": k + 1, "visit_id": vid,
                "pattern": base.plan.patterns[k] if base.plan is not None else "",
                "rendered": meta.get("repigmentation", "threshold"), "baseline_px": int(area[k]),
                "centroid_x": f"{com[k][1]:.1f}", "centroid_y": f"{com[k][0]:.1f}", "visible_px": int(vis[k]),
                "depigmented_px": int(dep[k]),
                "repigmented_share": f"{1 - dep[k] / vis[k]:.6f}" if vis[k] else ""})

    def write(self) -> dict[str, Any]:
        """Write ``transforms.csv`` and ``lesions.csv``; returns the summary entry."""
        root = self.truth / "tracking"
        for name, rows, cols in (("transforms", self.transforms, TRANSFORM_COLUMNS),
                                 ("lesions", self.lesions, LESION_COLUMNS)):
            write_csv(pd.DataFrame(rows, columns=cols), root / f"{name}.csv", float_format=None)  # homographies: exact
        return {"camera_motion": self.options.camera_motion, "repigmentation": self.options.repigmentation,
                "transforms": len(self.transforms), "lesion_rows": len(self.lesions),
                "rule": "TRUTH/tracking: transforms.csv (baseline -> follow-up homography, px), changes/ (codes of "
                        "vitiseg.tracking.changes in the baseline frame), lesions.csv (baseline lesions = "
                        "8-connected components of class 2; true pattern and share repigmented per visit)"}

