#!/usr/bin/env python
"""Throughput benchmark of ``vitiseg run`` on full-size photos (not a test; prints tables).

Follow-up tracking is off (``--no-tracking``): a generated patient's photos are unrelated scenes, which alignment
would refuse after trying every start; its cost on real pairs is in research/2026-12-01-tracking.

Generates N photos of 4000 x 3000 px (12 MP JPEG, quality 92) in a visits folder -- skin-toned body parts with
depigmented patches and camera noise, so that JPEG sizes are realistic -- then measures, in the same invocation:

- a pure JPEG-decode loop over the same files (``cv2.imread``, full resolution): the reference;
- ``vitiseg run`` end to end in a subprocess (so its memory is measured alone), once per ``--backend`` and
  ``--workers`` value: start-up (launch to model loaded), time to the first photo (both also as the run process's
  CPU seconds, which a busy machine does not stretch), steady-state photos/s (first to last photo), end-to-end
  photos/s, the steady state's time per photo against the decode loop's, CPU seconds per photo, peak resident memory
  (run process and its largest worker), and each stage's wall and CPU time per photo (from ``run.json``: wall times
  of photos measured at once overlap, so they add up to more than the elapsed time);
- the machine's load average (``os.getloadavg``) before and after each measurement: figures taken on a loaded
  machine are not speeds.

One command, rerunnable (the photos are kept in ``--keep`` and reused)::

    python scripts/bench.py --n 100 1000 --keep /tmp/vitiseg-bench [--backend onnx torch] [--workers 1 2]

Memory should be flat from 100 to 1,000 photos (streaming); pass both values to check.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REGIONS = ["face_front", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet"]
STAGES = ["hash", "decode", "normalise", "segment", "face", "score", "write"]


def make_photo(rng: np.random.Generator, h: int = 3000, w: int = 4000) -> np.ndarray:
    """A 12-MP BGR photo: grey backdrop, textured skin ellipse, irregular depigmented patches, sensor noise."""
    small_h, small_w = h // 8, w // 8
    img = np.empty((small_h, small_w, 3), np.float32)
    img[:] = rng.uniform(90, 140, 3)
    yy, xx = np.mgrid[0:small_h, 0:small_w]
    cy, cx = small_h * rng.uniform(0.4, 0.6), small_w * rng.uniform(0.4, 0.6)
    skin = ((yy - cy) / (0.42 * small_h)) ** 2 + ((xx - cx) / (0.38 * small_w)) ** 2 < 1
    tone = np.array(rng.choice([[120, 150, 200], [90, 120, 170], [60, 85, 125]]), np.float32)  # BGR
    img[skin] = tone
    field = cv2.GaussianBlur(rng.standard_normal((small_h, small_w)).astype(np.float32), (0, 0), 12)
    depig = skin & (field > np.quantile(field, rng.uniform(0.7, 0.95)))
    img[depig] = img[depig] * 0.35 + np.array([225, 228, 240], np.float32) * 0.65
    big = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    big += rng.normal(0, 4, big.shape).astype(np.float32)
    return np.clip(big, 0, 255).astype(np.uint8)


def make_visits(root: Path, n: int, seed: int = 0) -> list[Path]:
    """Write ``n`` photos as patients x visits x regions; returns the file list. Reuses a few base photos."""
    rng = np.random.default_rng(seed)
    bases = [make_photo(rng) for _ in range(min(n, 8))]
    files = []
    for i in range(n):
        pid, rest = divmod(i, 2 * len(REGIONS))
        vid, reg = divmod(rest, len(REGIONS))
        p = root / f"P{pid:04d}" / ("baseline" if vid == 0 else "week12") / f"{REGIONS[reg]}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        img = np.roll(bases[i % len(bases)], shift=int(rng.integers(0, 400)), axis=1)  # distinct bytes per file
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        files.append(p)
    return files


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def decode_loop(files: list[Path]) -> tuple[float, float]:
    """Wall and CPU seconds of decoding every file at full resolution, one after the other."""
    t, c = time.perf_counter(), time.process_time()
    for f in files:
        if cv2.imread(str(f), cv2.IMREAD_COLOR) is None:
            raise RuntimeError(f"decode failed: {f}")
    return time.perf_counter() - t, time.process_time() - c


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_vitiseg(visits: Path, out: Path, model: str, backend: str, workers: int, face_area: str
                ) -> tuple[float, float, dict]:
    """Run ``vitiseg run`` in a subprocess: its wall time from launch (imports and model load included), its CPU
    seconds (with its workers), and its run.json."""
    cmd = [sys.executable, "-m", "vitiseg", "run", str(visits), "--out", str(out), "--model", model,
           "--workers", str(workers), "--no-report", "--no-progress", "--face-area", face_area, "--no-tracking"]
    if backend != "default":
        cmd += ["--backend", backend]
    cpu0, t = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"vitiseg run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return wall, children_cpu() - cpu0, json.loads((out / "run.json").read_text())


def measure(visits: Path, out: Path, n: int, dec: tuple[float, float], a: argparse.Namespace, backend: str,
            workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    load_before = load()
    wall, cpu, s = run_vitiseg(visits, out, a.model, backend, workers, a.face_area)
    tl = s["timeline_seconds"]
    launch_to_run = wall - s["seconds"]  # interpreter start and imports, before run() starts its clock
    steady = (tl["last_photo"] - tl["first_photo"]) / max(1, n - 1)
    peak = s["peak_rss_mb"]
    row = {
        "n": n, "backend": s["model"].get("backend", s["model"].get("kind")), "workers": workers,
        "startup_s": launch_to_run + tl["model_loaded"], "first_photo_s": launch_to_run + tl["first_photo"],
        "startup_cpu_s": s["timeline_cpu_seconds"]["model_loaded"],
        "first_photo_cpu_s": s["timeline_cpu_seconds"]["first_photo"],
        "steady_photos_s": 1 / steady, "e2e_photos_s": n / wall, "wall_s": wall,
        "decode_ms": 1000 * dec[0] / n, "steady_over_decode": steady / (dec[0] / n), "cpu_ms_per_photo": 1000 * cpu / n,
        "peak_rss_mb": max(peak["main"], peak["largest_child"]), "failed": s["counts"]["failed"],
        "threads": s.get("threads"), "load_before": load_before, "load_after": load(),
    }
    for k in STAGES:
        row[f"{k}_wall_ms"] = 1000 * s["stage_seconds"].get(k, 0.0) / n
        row[f"{k}_cpu_ms"] = 1000 * s["stage_cpu_seconds"].get(k, 0.0) / n
    return row


def table(rows: list[dict], cols: list[str]) -> str:
    def cell(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--generate":
        make_visits(Path(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100])
    ap.add_argument("--workers", type=int, nargs="+", default=[1])
    ap.add_argument("--backend", nargs="+", default=["default"], help="default | onnx | torch (several: compared)")
    ap.add_argument("--model", default="default")
    ap.add_argument("--face-area", default="skin", help="generated photos hold no real face: skin (default)")
    ap.add_argument("--keep", type=Path, help="keep generated photos and outputs here (reused by the next call)")
    a = ap.parse_args()
    base = a.keep or Path(tempfile.mkdtemp(prefix="vitiseg-bench-"))
    rows = []
    try:
        for n in a.n:
            visits = base / f"visits_{n}"
            if not visits.exists():
                print(f"generating {n} photos of 4000x3000 ...", flush=True)
                # in a subprocess, so that this process stays small
                subprocess.run([sys.executable, __file__, "--generate", str(visits), str(n)], check=True)
            files = sorted(visits.rglob("*.jpg"))
            dec = decode_loop(files)
            print(f"decode loop: {n} files, {dec[0]:.2f} s wall, {dec[1]:.2f} s CPU (load {load()})", flush=True)
            for backend in a.backend:
                for w in a.workers:
                    rows.append(measure(visits, base / f"out_{n}_{backend}_w{w}", n, dec, a, backend, w))
                    print(json.dumps(rows[-1]), flush=True)
    finally:
        if a.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    print()
    print(table(rows, ["n", "backend", "workers", "startup_s", "startup_cpu_s", "first_photo_s", "first_photo_cpu_s",
                       "steady_photos_s", "e2e_photos_s",
                       "decode_ms", "steady_over_decode", "cpu_ms_per_photo", "peak_rss_mb", "failed",
                       "load_before", "load_after"]))
    print()
    stage_rows = [{"n": r["n"], "backend": r["backend"], "workers": r["workers"], "time": kind,
                   **{k: r[f"{k}_{kind}_ms"] for k in STAGES}} for r in rows for kind in ("cpu", "wall")]
    print(table(stage_rows, ["n", "backend", "workers", "time", *STAGES]))
    print(f"\n(stage times are ms per photo, summed over photos measured at once and over workers; "
          f"{os.cpu_count()} cores; load averages 1/5/15 min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
