"""Where the per-photo work runs: in this process, in N local worker processes, or on a Ray cluster.

All executors run the same function, :func:`.photo.process_photo`, on the same inputs, so their results are
identical. Each worker loads the segmenter once. Work is submitted through a bounded window (``2 x workers`` photos
in flight), so memory stays flat however many photos there are: no executor ever holds more than the window's
images. Results are yielded as they finish (any order); the caller writes resume records and builds the tables.

- ``local`` with ``workers=1``: in-process. A thread-safe segmenter (ONNX Runtime, classical) gets ``threads`` photos
  at a time in threads (decoding, normalising, writing and inference of different photos overlap: they release the
  GIL), each inference on one intra-op thread; the PyTorch backend gets one photo at a time on every core.
- ``local`` with ``workers=N``: ``N`` spawned processes, each with ``cores // N`` intra-op threads.
- ``ray``: ``N`` Ray actors (``--ray-address`` to join a cluster; a local instance otherwise). Input photos and the
  output folder must be on storage that every node sees at the same path (NFS, a mounted bucket).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from ..config import RunConfig
from ..io.layout import PhotoItem
from ..segmentation.load import load_segmenter
from .photo import RunContext, process_photo
from .provenance import model_key

log = logging.getLogger(__name__)

Task = tuple[PhotoItem, frozenset[str]]  # (photo, face views of its visit)


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a fresh worker needs to rebuild the run context (picklable, small)."""

    cfg_json: str
    out_dir: str
    fingerprint: str
    model_sha256: str
    threads: int  # intra-op threads of the worker's segmenter (and OpenCV)


def build_context(spec: WorkerSpec) -> RunContext:
    """Rebuild the :class:`.photo.RunContext` inside a worker (loads the segmenter once)."""
    import cv2

    cv2.setNumThreads(spec.threads)
    cfg = RunConfig.model_validate_json(spec.cfg_json)
    seg = load_segmenter(cfg.segmentation, cfg.normalise, threads=spec.threads)
    if model_key(seg.identity) != spec.model_sha256:
        raise RuntimeError("worker loaded a different model than the main process (hash mismatch)")
    return RunContext(cfg, seg, Path(spec.out_dir), spec.fingerprint, spec.model_sha256)


_CTX: RunContext | None = None


def _init_worker(spec: WorkerSpec) -> None:
    global _CTX
    logging.basicConfig(level=logging.WARNING)
    _CTX = build_context(spec)


def _run_task(task: Task) -> dict[str, Any]:
    assert _CTX is not None, "worker not initialised"
    return process_photo(task[0], _CTX, task[1])


def _windowed(pool: Executor, fn: Callable[[Task], dict[str, Any]], tasks: Iterable[Task], window: int
              ) -> Iterator[dict[str, Any]]:
    """Submit ``fn(task)`` to ``pool`` with at most ``window`` tasks in flight; yield results as they finish."""
    pending: set[Future] = set()
    it = iter(tasks)
    exhausted = False
    while pending or not exhausted:
        while not exhausted and len(pending) < window:
            try:
                pending.add(pool.submit(fn, next(it)))
            except StopIteration:
                exhausted = True
        if not pending:
            break
        done, pending = wait(pending, return_when=FIRST_COMPLETED)
        for f in done:
            yield f.result()


def run_local(tasks: Iterable[Task], ctx: RunContext, workers: int, spec: WorkerSpec | None, threads: int = 1
              ) -> Iterator[dict[str, Any]]:
    """Yield rows for ``tasks``; ``workers`` <= 1 runs in this process with ``ctx``, ``threads`` photos at a time
    (the segmenter must be thread-safe when ``threads`` > 1)."""
    if workers <= 1 and threads <= 1:
        for item, views in tasks:
            yield process_photo(item, ctx, views)
        return
    if workers <= 1:
        import cv2

        before = cv2.getNumThreads()
        cv2.setNumThreads(max(1, (os.cpu_count() or 1) // threads))  # the cores are shared out between photos
        try:
            with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="photo") as pool:
                yield from _windowed(pool, lambda t: process_photo(t[0], ctx, t[1]), tasks, 2 * threads)
        finally:
            cv2.setNumThreads(before)
        return
    assert spec is not None
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(spec,)) as pool:
        yield from _windowed(pool, _run_task, tasks, 2 * workers)


def run_ray(tasks: Iterable[Task], workers: int, spec: WorkerSpec, address: str | None) -> Iterator[dict[str, Any]]:
    """Yield rows for ``tasks`` computed by ``workers`` Ray actors (each loads the model once)."""
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:  # pragma: no cover - depends on the optional extra
        raise RuntimeError("the ray executor needs Ray: pip install 'vitiseg[distributed]'") from exc

    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 num_cpus=None if address else max(workers, os.cpu_count() or 1))

    @ray.remote(num_cpus=1)
    class _Worker:
        def __init__(self, s: WorkerSpec) -> None:
            self.ctx = build_context(s)

        def process(self, task: Task) -> dict[str, Any]:
            return process_photo(task[0], self.ctx, task[1])

    try:
        actors = [_Worker.remote(spec) for _ in range(max(1, workers))]
        pool = ActorPool(actors)
        it = iter(tasks)
        window = 2 * len(actors)
        inflight = 0
        exhausted = False
        while True:
            while not exhausted and inflight < window:
                try:
                    task = next(it)
                except StopIteration:
                    exhausted = True
                    break
                pool.submit(lambda a, t: a.process.remote(t), task)
                inflight += 1
            if inflight == 0:
                break
            yield pool.get_next_unordered()
            inflight -= 1
    finally:
        if started_here:
            ray.shutdown()
