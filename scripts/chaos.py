#!/usr/bin/env python
"""Kill ``vitiseg run`` with SIGKILL at random moments, re-run after each, and prove nothing is lost (not a test; slow).

1. Makes a visits folder of ``--photos`` photos (``vitiseg synth cohort``, 5 patients x 2 visits x 7 regions, the
   last ones dropped; real skin photos and faces when ``--skin-root`` exists, else procedural body parts with
   ``--face-area skin``).
2. Runs ``vitiseg run`` once uninterrupted (the reference), with the fault trace on (``vitiseg.faults``) to count how
   often each stage is reached.
3. Kills a second run into a fresh folder ``--kills`` times: each time a process of ``vitiseg run`` is started with
   ``VITISEG_FAULT=STAGE:N`` and SIGKILLs itself the N-th time it reaches STAGE. The stages are spread over the run:
   decode, inference, write (masks/overlays/facial areas), tmp (inside an atomic write, temporary file complete and
   not yet renamed), record (resume records), and, once every photo is done, table (CSV/SQLite), tmp (of a table) and
   report; N is drawn at random within the stage's remaining work. After each kill every record must be valid JSON
   and every mask must decode. Then it runs to the end.
4. Checks: tables, SQLite, cohort tables, masks, facial areas, overlays and records byte-identical to the reference;
   no temporary or half-written file left; every photo decoded exactly as often as needed (once, plus once more for
   each kill that caught it in flight, before its record was written).

Prints the table of kill points and outcomes and exits 1 if any check fails.

    python scripts/chaos.py --work /tmp/chaos [--kills 20] [--photos 60] [--seed 0] [--skin-root ../shared/data/skin]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from vitiseg.cli import main as vitiseg_main

REPO = Path(__file__).resolve().parents[1]
PHOTO_STAGES = ("decode", "inference", "write", "tmp", "record")
END_STAGES = ("table", "table", "tmp", "tmp", "report")  # once every photo is done
COMPARED_FILES = ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv", "failures.csv", "vitiseg.sqlite",
                  "cohort.csv", "cohort.json", "cohort_regions.csv")
COMPARED_DIRS = ("masks", "face_area", "overlays", ".records")


def make_visits(out: Path, n_photos: int, seed: int, skin_root: Path) -> bool:
    """The visits folder; returns whether its faces are real (TRuE-V facial area) or procedural (all skin)."""
    real = (skin_root / "fasseg_face_skin").is_dir()
    args = ["synth", "cohort", "--out", str(out), "--preset", "small", "--patients", "5", "--seed", str(seed)]
    args += ["--skin-root", str(skin_root)] if real else ["--background", "procedural"]
    if vitiseg_main(args) != 0:
        raise SystemExit("vitiseg synth cohort failed")
    photos = sorted(p for p in out.rglob("*.jpg"))
    for p in photos[n_photos:]:
        p.unlink()
    if len(photos) < n_photos:
        raise SystemExit(f"only {len(photos)} photos generated")
    return real


def vitiseg_run(visits: Path, out: Path, trace: Path, extra: list[str], fault: str | None = None
                ) -> tuple[int, float]:
    env = {k: v for k, v in os.environ.items() if k not in ("VITISEG_FAULT", "VITISEG_FAULT_TRACE")}
    env["VITISEG_FAULT_TRACE"] = str(trace)
    if fault:
        env["VITISEG_FAULT"] = fault
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "vitiseg", "run", str(visits), "--out", str(out), "--no-progress",
                        *extra], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if p.returncode not in (0, 1, -signal.SIGKILL):
        print(p.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"vitiseg run exited {p.returncode}")
    return p.returncode, time.perf_counter() - t


def read_trace(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        return []
    return [tuple(line.split("\t", 1)) for line in path.read_text(encoding="utf-8").splitlines()]  # type: ignore[misc]


def records(out: Path) -> dict[str, dict]:
    """Photo path -> its record; raises if any record is not complete JSON (a half-written file)."""
    found = {}
    for p in (out / ".records").rglob("*.json") if (out / ".records").is_dir() else []:
        rec = json.loads(p.read_text(encoding="utf-8"))
        found[rec["row"]["path"]] = rec
    return found


def check_outputs_decode(out: Path) -> None:
    for p in (out / "masks").rglob("*.png") if (out / "masks").is_dir() else []:
        if cv2.imread(str(p), cv2.IMREAD_UNCHANGED) is None:
            raise AssertionError(f"mask does not decode: {p}")


def leftovers(out: Path) -> list[str]:
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if ".tmp" in p.name)


def tree_bytes(root: Path) -> dict[str, bytes]:
    files = {name: (root / name).read_bytes() for name in COMPARED_FILES if (root / name).is_file()}
    for d in COMPARED_DIRS:
        if (root / d).is_dir():
            files.update({p.relative_to(root).as_posix(): p.read_bytes() for p in (root / d).rglob("*") if p.is_file()})
    return files


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True, help="working folder (replaced)")
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skin-root", type=Path, default=REPO.parent / "shared" / "data" / "skin")
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    if a.work.exists():
        shutil.rmtree(a.work)
    a.work.mkdir(parents=True)
    visits, ref, out, traces = a.work / "visits", a.work / "ref", a.work / "out", a.work / "traces"
    traces.mkdir()
    real = make_visits(visits, a.photos, a.seed, a.skin_root)
    extra = [] if real else ["--face-area", "skin"]

    ref_rc, ref_s = vitiseg_run(visits, ref, traces / "ref.tsv", extra)
    ref_trace = read_trace(traces / "ref.tsv")
    first_table = next(i for i, (s, _) in enumerate(ref_trace) if s == "table")
    photo_hits = Counter(s for s, _ in ref_trace[:first_table])
    end_hits = Counter(s for s, _ in ref_trace[first_table:])
    ok_photos = {r["row"]["path"] for r in records(ref).values()}
    print(f"reference: {len(ok_photos)} of {a.photos} photos ok, exit {ref_rc}, {ref_s:.0f} s; fault points reached: "
          f"{dict(photo_hits)} while processing photos, {dict(end_hits)} writing tables and report")

    plan = [str(x) for x in rng.permutation(np.repeat(PHOTO_STAGES, 3)[: max(0, a.kills - len(END_STAGES))])]
    plan += list(END_STAGES[: a.kills - len(plan)])
    rows, decodes, needed = [], Counter(), Counter(ok_photos)
    attempt = 0
    while plan and attempt < 3 * a.kills:
        attempt += 1
        before = records(out)
        remaining = len(ok_photos - set(before))
        if plan[0] in PHOTO_STAGES and not remaining and plan[0] != "tmp":
            plan[0] = "table"  # every photo is done: no photo left to kill in
        stage = plan[0]
        photo_kills_left = sum(1 for s in plan[: len(plan) - len(END_STAGES)] if s in PHOTO_STAGES)
        if stage in PHOTO_STAGES and remaining and photo_kills_left:
            # spread the kills over the photos still to do, so that later kills still find work
            top = max(1, int(photo_hits[stage] / max(1, len(ok_photos)) * remaining / photo_kills_left))
        else:
            top = max(1, end_hits[stage])
        n = int(rng.integers(1, top + 1))
        trace = traces / f"run{attempt:02d}.tsv"
        rc, secs = vitiseg_run(visits, out, trace, extra, fault=f"{stage}:{n}")
        events = read_trace(trace)
        decoded = [d for s, d in events if s == "decode"]
        decodes.update(decoded)
        after = records(out)  # raises on a half-written record
        check_outputs_decode(out)
        redo = ""
        if rc == -signal.SIGKILL:
            plan.pop(0)
            if decoded and decoded[-1] not in after and decoded[-1] in ok_photos:
                redo = decoded[-1]
                needed[redo] += 1
            where = events[-1][1] if events else ""
            outcome = "killed; records valid, masks decode" + (f"; {redo} to redo" if redo else "")
        else:
            where, outcome = "", f"finished before the kill point (exit {rc})"
        rows.append((attempt, stage, n, where, rc, len(before), len(after), len(decoded), len(leftovers(out)), outcome))

    final_trace = traces / "final.tsv"
    final_rc, final_s = vitiseg_run(visits, out, final_trace, extra)
    decodes.update(d for s, d in read_trace(final_trace) if s == "decode")
    final_decodes = sum(1 for s, _ in read_trace(final_trace) if s == "decode")

    print(f"\n{'#':>3} {'stage':<9} {'N':>4}  {'killed at':<44} {'exit':>4} {'records':>9} {'decoded':>7} "
          f"{'tmp left':>8}  outcome")
    for i, stage, n, where, rc, b, af, dec, tmp, outcome in rows:
        print(f"{i:>3} {stage:<9} {n:>4}  {where[:44]:<44} {rc:>4} {b:>4}->{af:<4} {dec:>7} {tmp:>8}  {outcome}")
    kills = sum(1 for r in rows if r[4] == -signal.SIGKILL)
    print(f"final run: exit {final_rc} (reference {ref_rc}), {final_s:.0f} s, {final_decodes} photo(s) decoded")

    failures = []
    if kills < a.kills:
        failures.append(f"only {kills} of {a.kills} kills happened")
    if final_rc != ref_rc:
        failures.append(f"final exit {final_rc} != reference {ref_rc}")
    want, got = tree_bytes(ref), tree_bytes(out)
    if set(want) != set(got):
        failures.append(f"file sets differ: only in reference {sorted(set(want) - set(got))[:5]}, only after kills "
                        f"{sorted(set(got) - set(want))[:5]}")
    differ = sorted(k for k in set(want) & set(got) if want[k] != got[k])
    if differ:
        failures.append(f"{len(differ)} file(s) differ from the reference: {differ[:5]}")
    if leftovers(out):
        failures.append(f"temporary files left: {leftovers(out)}")
    extra_work = {p: (decodes[p], needed[p]) for p in ok_photos if decodes[p] != needed[p]}
    if extra_work:
        failures.append(f"photos decoded other than needed (decoded, needed): {dict(list(extra_work.items())[:5])}")
    print(f"compared {len(want)} files (tables, SQLite, cohort tables, masks, facial areas, overlays, records): "
          f"{len(differ)} differ; temporary files left: {len(leftovers(out))}")
    print(f"photos decoded over all {len(rows) + 1} runs: {sum(decodes[p] for p in ok_photos)}; needed "
          f"{sum(needed.values())} ({len(ok_photos)} photos + {sum(needed.values()) - len(ok_photos)} caught in "
          f"flight by a kill); kills: {kills}")
    for f in failures:
        print("FAIL:", f)
    print("OK: nothing lost, nothing redone without need" if not failures else "")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
