"""``vitiseg synth dataset`` and ``vitiseg synth cohort``: exit codes and one-line errors around the generators."""

from __future__ import annotations

import logging
from pathlib import Path

from ..usage import UsageError, require_input_dir, require_output_dir

log = logging.getLogger(__name__)


def dataset_command(skin_root: str | Path, out: str | Path, n: int, seed: int, size: int, sets: list[str],
                    split: str, workers: int = 1, tone_shift: float = 0.0, progress: bool = True,
                    tone_balance: float = 0.0, extensive: float = 0.0, residual: float = 0.0) -> int:
    """Render ``n`` training samples into ``out`` (resumable); 0, or 2 with one line for a user's mistake.

    ``tone_balance`` / ``extensive`` / ``residual``: shares of re-toned backgrounds, extensive and faint residual
    lesion plans (:func:`vitiseg.synth.dataset.make_one`); all 0 (the defaults) render what the generator always did."""
    from .dataset import generate

    require_input_dir(skin_root, "skin root (--skin-root)")
    require_output_dir(out)
    try:
        stats = generate(skin_root, out, n, seed, size, sets, split, workers=max(1, workers), tone_shift=tone_shift,
                         progress=progress, tone_balance=tone_balance, p_extensive=extensive, p_residual=residual)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("wrote %d, skipped %d existing, %s samples/s", stats["written"], stats["skipped"], stats["samples_per_s"])
    return 0


def cohort_command(out: str | Path, preset: str, seed: int, skin_root: str | Path | None, patients: int | None,
                   size: int | None, truth: str | Path | None, background: str, progress: bool = True,
                   camera_motion: float = 0.0, repigmentation: str = "threshold",
                   background_split: str = "heldout") -> int:
    """Write a synthetic visits folder and its truth; 0, or 2 with one line for a user's mistake."""
    from .trial.render import generate_cohort
    from .trial.tracking_truth import TrackingOptions

    if skin_root is not None and background == "real":
        require_input_dir(skin_root, "skin root (--skin-root)")
    if Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    try:
        summary = generate_cohort(out=out, preset=preset, seed=seed, skin_root=skin_root, patients=patients,
                                  size=size, truth_dir=truth, background=background, progress=progress,
                                  tracking=TrackingOptions(camera_motion, repigmentation),
                                  background_split=background_split)
    except (FileNotFoundError, ValueError) as exc:
        log.error("%s", exc)
        return 2
    log.info("cohort written: %s", summary.get("truth_dir"))
    return 0
