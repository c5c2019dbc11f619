"""``vitiseg synth``: ``dataset`` (training samples on real skin) and ``cohort`` (a scored visits folder with truth)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="synth_command", metavar="SYNTH_COMMAND")
    sub.required = True
    d = sub.add_parser("dataset", help="synthetic images / class masks / truth JSON on real skin backgrounds")
    d.add_argument("--skin-root", required=True, help="folder with <set>/{images,masks,splits.json}")
    d.add_argument("--out", required=True, help="output folder (resumable; grows with a larger --n)")
    d.add_argument("--n", type=int, required=True, help="number of samples")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--size", type=int, default=384, help="square side in px (default 384)")
    d.add_argument("--sets", default="fasseg_face_skin,abdominal_skin,hgr_hands_subset,pratheepan_skin",
                   help="comma-separated skin sets")
    d.add_argument("--split", default="all", choices=["train", "val", "test", "all"],
                   help="only backgrounds of this split (see vitiseg.synth.backgrounds for the split rule)")
    d.add_argument("--workers", type=int, default=1,
                   help="processes rendering in parallel (same output as 1; default 1)")
    d.add_argument("--tone-shift", type=float, default=0.0,
                   help="share of samples (0-1) whose background skin is first darkened to a brown/dark ITA")
    c = sub.add_parser("cohort", help="synthetic visits folder with exact F-VASI / T-VASI truth")
    c.add_argument("--skin-root", default=None,
                   help="folder with the real skin sets (not needed with --background procedural)")
    c.add_argument("--out", required=True, help="visits folder to write")
    c.add_argument("--preset", default="small", help="ruxolitinib_wk12 | small")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--patients", type=int, default=None, help="override the preset's patient count")
    c.add_argument("--size", type=int, default=None, help="long side in px (default: the preset's)")
    c.add_argument("--truth", default=None, help="truth folder (default: <out parent>/<out name>_truth)")
    c.add_argument("--background", default="real", choices=["real", "procedural"],
                   help="real skin photos (needs --skin-root) or procedural body parts (no external data)")


def main(args: argparse.Namespace) -> int:
    if args.synth_command == "dataset":
        from vitiseg.synth.dataset import generate

        sets = [s.strip() for s in args.sets.split(",") if s.strip()]
        try:
            stats = generate(args.skin_root, args.out, args.n, args.seed, args.size, sets, args.split,
                             workers=max(1, args.workers), tone_shift=args.tone_shift)
        except (FileNotFoundError, ValueError) as exc:
            log.error("%s", exc)
            return 2
        log.info("wrote %d, skipped %d existing, %s samples/s",
                 stats["written"], stats["skipped"], stats["samples_per_s"])
        return 0
    if args.synth_command == "cohort":
        from vitiseg.synth.cohort import generate_cohort

        try:
            summary = generate_cohort(
                out=args.out, preset=args.preset, seed=args.seed, skin_root=args.skin_root, patients=args.patients,
                size=args.size, truth_dir=args.truth, background=args.background,
            )
        except (FileNotFoundError, ValueError) as exc:
            log.error("%s", exc)
            return 2
        log.info("cohort written: %s", summary.get("truth_dir"))
        return 0
    raise ValueError(args.synth_command)
