#!/usr/bin/env python
"""Throughput benchmark of ``vitiseg run`` on full-size photos (not a test; prints a table).

Generates N photos of 4000 x 3000 px (12 MP JPEG, quality 92) in a visits folder -- skin-toned body parts with
depigmented patches and camera noise, so that JPEG sizes are realistic -- then measures, in this run:

- a pure JPEG-decode loop over the same files (cv2.imread, full resolution) as the reference,
- ``vitiseg run`` end to end (in a subprocess, so its peak memory is measured alone): photos/s, seconds per stage
  from run.json, peak resident memory (max RSS of the run process and its workers).

Usage::

    python scripts/bench.py --n 100 [--n 1000] [--workers 1 2] [--model default|classical] [--keep DIR]

Memory should be flat from 100 to 1,000 photos (streaming); pass several --n values to check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REGIONS = ["face_front", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet"]


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


def decode_loop(files: list[Path]) -> float:
    t = time.perf_counter()
    for f in files:
        if cv2.imread(str(f), cv2.IMREAD_COLOR) is None:
            raise RuntimeError(f"decode failed: {f}")
    return time.perf_counter() - t


def run_vitiseg(visits: Path, out: Path, model: str, workers: int, face_area: str) -> tuple[float, float, dict]:
    """Run ``vitiseg run`` in a subprocess; wall time includes start-up (imports, model load)."""
    cmd = [sys.executable, "-m", "vitiseg.cli", "run", str(visits), "--out", str(out), "--model", model,
           "--workers", str(workers), "--no-report", "--no-progress", "--face-area", face_area]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"vitiseg run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "run.json").read_text())
    # measured inside the run (getrusage of the run process and of its largest worker)
    peak = summary["peak_rss_mb"]
    return wall, max(peak["main"], peak["largest_child"]), summary


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--generate":
        make_visits(Path(sys.argv[2]), int(sys.argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[100])
    ap.add_argument("--workers", type=int, nargs="+", default=[1])
    ap.add_argument("--model", default="default")
    ap.add_argument("--face-area", default="skin", help="generated photos hold no real face: skin (default)")
    ap.add_argument("--keep", type=Path, help="keep generated photos and outputs here")
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
            for w in a.workers:
                out = base / f"out_{n}_w{w}"
                shutil.rmtree(out, ignore_errors=True)
                wall, peak_mb, s = run_vitiseg(visits, out, a.model, w, a.face_area)
                st = s.get("stage_seconds", {})
                rows.append({
                    "n": n, "workers": w, "model": s["model"].get("name"), "photos_s": n / wall,
                    "wall_s": wall, "decode_loop_s": dec, "ratio_to_decode": wall / dec,
                    "peak_rss_mb": peak_mb, "startup_s": s["seconds"] and wall - s["seconds"], "failed": s["counts"]["failed"],
                    **{f"{k}_ms": 1000 * v / max(1, n) for k, v in st.items()},
                })
                print(json.dumps(rows[-1]), flush=True)
    finally:
        if a.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    cols = ["n", "workers", "model", "photos_s", "wall_s", "startup_s", "decode_loop_s", "ratio_to_decode", "peak_rss_mb",
            "hash_ms", "decode_ms", "normalise_ms", "segment_ms", "face_ms", "score_ms", "write_ms", "failed"]
    print()
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r.get(c, ''):.3g}" if isinstance(r.get(c), float) else str(r.get(c, ""))
                                  for c in cols) + " |")
    print(f"\n(per-stage ms are per photo, summed over workers; CPU: {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
