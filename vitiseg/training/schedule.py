"""Learning-rate schedule: linear warm-up, then cosine decay to ``min_lr`` (or constant), optionally by time."""

from __future__ import annotations

import math

from .config import OptimConfig


def lr_at(step: int, o: OptimConfig, time_frac: float = 0.0) -> float:
    """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay to ``min_lr`` (or constant).

    ``time_frac`` (elapsed / time budget, used when ``time_schedule``) advances the decay if it is ahead of the steps.
    """
    total = o.epochs * o.steps_per_epoch
    if o.warmup_steps and step < o.warmup_steps:
        return o.lr * (step + 1) / o.warmup_steps
    if o.schedule == "constant":
        return o.lr
    t = max((step - o.warmup_steps) / max(1, total - o.warmup_steps), time_frac)
    return o.min_lr + 0.5 * (o.lr - o.min_lr) * (1.0 + math.cos(math.pi * min(1.0, t)))
