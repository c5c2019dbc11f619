"""How a run spends the machine's cores: photos in flight in this process versus intra-op threads per inference.

A photo's work is a chain of steps that each use one core well (JPEG decoding, resizing, colour normalisation, a
forward pass of a small network at 384 px, hysteresis decoding, PNG and JPEG encoding), and all of them release the
GIL. So with a thread-safe segmenter (ONNX Runtime, classical) one process measures several photos at once, one
intra-op thread each, rather than one photo with every core on its forward pass (where the other steps would run on
one core). The PyTorch backend keeps one photo at a time with PyTorch's own thread setting (one per core unless the
caller set another). Worker processes (``--workers N``) and Ray actors take one photo at a time with ``cores // N``
intra-op threads each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

MAX_PHOTOS_IN_FLIGHT = 4  # per process: bounds the memory of decoded photos on many-core machines


@dataclass(frozen=True)
class ThreadPlan:
    """``photos``: photos measured at once in this process; ``intra_op``: threads of each inference (and OpenCV); 0
    leaves the runtime's own setting."""

    photos: int
    intra_op: int


def plan_threads(workers: int, executor: str, thread_safe: bool, cores: int | None = None) -> ThreadPlan:
    """The plan for ``workers`` processes (or Ray actors with ``executor="ray"``) on ``cores`` cores (default: this
    machine's); ``thread_safe``: the segmenter may measure photos in several threads at once."""
    cores = max(1, cores or os.cpu_count() or 1)
    if executor == "ray" or workers > 1:
        return ThreadPlan(1, max(1, cores // max(1, workers)))
    if not thread_safe:
        return ThreadPlan(1, 0)
    photos = min(cores, MAX_PHOTOS_IN_FLIGHT)
    return ThreadPlan(photos, max(1, cores // photos))
