"""``vitiseg synth dataset`` and ``vitiseg synth cohort``: exit codes and one-line errors around the generators."""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def dataset_command(skin_root: str | Path, out: str | Path, n: int, seed: int, size: int, sets: list[str],
                    split: str, workers: int = 1, tone_shift: float = 0.0) -> int:
    """Render ``n`` training samples into ``out`` (resumable); 0, or 2 with one line for a user's mistake."""
    from .dataset import generate

    try:
        stats = generate(skin_root, out, n, seed, size, sets, split, workers=max(1, workers), tone_shift=tone_shift)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %d, skipped %d existing, %s samples/s", stats["written"], stats["skipped"], stats["samples_per_s"])
    return 0


def cohort_command(out: str | Path, preset: str, seed: int, skin_root: str | Path | None, patients: int | None,
                   size: int | None, truth: str | Path | None, background: str, camera_motion: float = 0.0,
                   repigmentation: str = "threshold") -> int:
    """Write a synthetic visits folder and its truth; 0, or 2 with one line for a user's mistake."""
    from .trial.render import generate_cohort
    from .trial.tracking_truth import TrackingOptions

    try:
        summary = generate_cohort(out=out, preset=preset, seed=seed, skin_root=skin_root, patients=patients,
                                  size=size, truth_dir=truth, background=background,
                                  tracking=TrackingOptions(camera_motion, repigmentation))
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("cohort written: %s", summary.get("truth_dir"))
    return 0
