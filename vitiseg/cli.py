"""Command-line entry point ``vitiseg``: argument parsing only.

Each command is an ``_add_<command>`` function that declares its arguments and a ``_<command>`` handler that calls
exactly one function of the package with them (imported when the command runs, so ``vitiseg --help`` stays fast).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Never reach for the network for weights: fail in milliseconds instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

NORMALISE_METHODS = ("shades_of_grey", "grey_world", "none")
DEVICES = ("auto", "cpu", "cuda")
BACKENDS = ("auto", "onnx", "torch")
BACKEND_HELP = "U-Net runtime: onnx (ONNX Runtime), torch (PyTorch, vitiseg[train]); auto (default): onnx when the " \
               "model has model.onnx"


# ------------------------------------------------------------------------------------------------------ run


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("visits", type=Path, help="visits folder: VISITS/<patient>/<visit>/<region>[_<view>].jpg")
    p.add_argument("--out", type=Path, required=True, help="output folder (re-using it resumes)")
    p.add_argument("--config", type=Path, help="YAML run config (defaults: vitiseg/defaults/run.yaml); unknown keys "
                                               "are rejected")
    p.add_argument("--regions", type=Path, help="regions YAML (default: vitiseg/defaults/regions.yaml)")
    p.add_argument("--model", help="'default' (shipped U-Net), 'classical', or a model folder")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    p.add_argument("--face-area", choices=["truev", "skin"],
                   help="truev: TRuE-V facial area from landmarks (default); skin: all skin in face photos")
    p.add_argument("--normalise", choices=NORMALISE_METHODS,
                   help="colour normalisation of the classical baseline (a U-Net uses the one it was trained with)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (or Ray actors); default 1")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local processes (default) or a Ray cluster (pip install 'vitiseg[distributed]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster, e.g. ray://head:10001 or auto; "
                                          "a local Ray instance is started when omitted")


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Run-config overrides from the command-line flags that were given."""
    o: dict[str, Any] = {}
    if getattr(args, "model", None):
        o.setdefault("segmentation", {})["model"] = args.model
    if getattr(args, "device", None):
        o.setdefault("segmentation", {})["device"] = args.device
    if getattr(args, "backend", None):
        o.setdefault("segmentation", {})["backend"] = args.backend
    if getattr(args, "face_area", None):
        o.setdefault("face", {})["area"] = args.face_area
    if getattr(args, "normalise", None):
        o.setdefault("normalise", {})["method"] = args.normalise
    if getattr(args, "no_report", False):
        o["report"] = False
    return o


def _run(args: argparse.Namespace) -> int:
    from .pipeline.run import run_command

    return run_command(args.visits, args.out, args.config, overrides_from_args(args), args.regions,
                       progress=not args.no_progress, workers=args.workers, executor=args.executor,
                       ray_address=args.ray_address)


# -------------------------------------------------------------------------------------------------- segment


def _add_segment(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", type=Path, help="flat folder of images")
    p.add_argument("--out", type=Path, required=True, help="folder for <stem>.png class masks")
    p.add_argument("--config", type=Path, help="YAML run config (defaults: vitiseg/defaults/run.yaml)")
    p.add_argument("--model", help="'default', 'classical' or a model folder")
    p.add_argument("--device", choices=DEVICES)
    p.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    p.add_argument("--normalise", choices=NORMALISE_METHODS,
                   help="colour normalisation of the classical baseline (a U-Net uses the one it was trained with)")
    p.add_argument("--overwrite", action="store_true", help="redo masks that already exist")


def _segment(args: argparse.Namespace) -> int:
    from .pipeline.segment_folder import segment_folder

    return segment_folder(args.images, args.out, args.config, overrides_from_args(args), overwrite=args.overwrite)


# --------------------------------------------------------------------------------------------------- report


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="run folder written by `vitiseg run` (must contain visits.csv)")
    p.add_argument("--images", choices=("embed", "link"), default="embed",
                   help="embed overlay thumbnails as base64 (default, one portable file) or link OUT/overlays/ "
                        "relatively (small page; keep it inside the run folder)")
    p.add_argument("--group-by", choices=("auto", "visit_id", "visit_index"), default="auto",
                   help="how visits are matched across patients (default: visit_id when ids are a shared schedule)")
    p.add_argument("--include-partial-tvasi", action="store_true",
                   help="keep partial T-VASI (regions not photographed) in T-VASI statistics")
    p.add_argument("--thumb-px", type=int, default=320, help="long side of embedded overlay thumbnails (px)")


def _report(args: argparse.Namespace) -> int:
    from .report.html import report_command

    return report_command(args.out, images=args.images, group_by=args.group_by,
                          include_partial_tvasi=args.include_partial_tvasi, thumb_px=args.thumb_px)


# ---------------------------------------------------------------------------------------------------- synth


def _add_synth(parser: argparse.ArgumentParser) -> None:
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


def _synth(args: argparse.Namespace) -> int:
    from .synth.commands import cohort_command, dataset_command

    if args.synth_command == "dataset":
        return dataset_command(args.skin_root, args.out, args.n, args.seed, args.size,
                               [s.strip() for s in args.sets.split(",") if s.strip()], args.split,
                               workers=args.workers, tone_shift=args.tone_shift)
    return cohort_command(args.out, args.preset, args.seed, args.skin_root, args.patients, args.size, args.truth,
                          args.background)


# ---------------------------------------------------------------------------------------------------- train


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="training config YAML (e.g. configs/train/*.yaml)")
    p.add_argument("--out", type=Path, help="run folder (default runs/train/<name>); an existing run there is resumed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", choices=DEVICES, help="override the config's device")
    p.add_argument("--loader-workers", type=int, help="override the config's loader_workers (0 = no extra processes)")


def _train(args: argparse.Namespace) -> int:
    try:
        from .training.trainer import train_command
    except ImportError as exc:  # the base install has no PyTorch
        logging.getLogger("vitiseg").error("vitiseg train needs %s: pip install 'vitiseg[train]'", exc.name)
        return 2

    return train_command(args.config, args.out, device=args.device, loader_workers=args.loader_workers,
                         progress=not args.no_progress)


# ------------------------------------------------------------------------------------------------- evaluate


def _add_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="default", help="'default' (shipped U-Net), 'classical', or a model folder")
    p.add_argument("--images", type=Path, required=True, help="folder of photos")
    p.add_argument("--masks", type=Path, required=True, help="folder of ground-truth masks <stem>.png")
    p.add_argument(
        "--mask-kind",
        choices=["classes", "lesion", "skin"],
        default="classes",
        help="classes: 0/1/2; lesion: 0/255 lesion polygons; skin: 0/255 skin of lesion-free photos",
    )
    p.add_argument("--ids", type=Path,
                   help="restrict to ids from a .txt (one per line), .csv (id[,split]) or splits.json")
    p.add_argument("--split", help="split name to select in --ids (.csv 'split' column or splits.json key)")
    p.add_argument("--max-images", type=int, default=None)
    p.add_argument("--normalise", choices=NORMALISE_METHODS, default=None,
                   help="colour normalisation of the classical baseline (a U-Net uses the one it was trained with)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    p.add_argument("--out", type=Path, help="output folder (default runs/evaluate/<model>-<UTC time>)")
    p.add_argument("--groups", type=Path,
                   help="CSV with an 'id' column and label columns (e.g. a synthetic set's index.csv): "
                        "metrics are also reported per label of each --group-by column")
    p.add_argument("--group-by", default="set,kind",
                   help="comma-separated columns of --groups to stratify by (default: set,kind)")
    p.add_argument("--worst", type=int, default=12,
                   help="draw the N images with the most wrong pixels into OUT/worst.jpg (0: none; default 12)")


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation.runner import evaluate_command

    return evaluate_command(args.model, args.images, args.masks, args.mask_kind, args.out, args.ids, args.split,
                            args.max_images, args.normalise, args.device, args.worst, args.groups, args.group_by,
                            backend=args.backend)


# ---------------------------------------------------------------------------------------------------- model


def _add_model(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="MODEL_COMMAND")
    sub.required = True
    e = sub.add_parser("export", help="write MODEL_DIR/model.onnx for ONNX Runtime and record its SHA-256 in "
                                      "config.json (needs vitiseg[train])",
                       description="Export a model folder's network to ONNX (dynamic size) and check it against "
                                   "PyTorch. Example: vitiseg model export runs/train/my-run/best")
    e.add_argument("model_dir", type=Path, help="model folder with config.json and model.safetensors")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")


def _model(args: argparse.Namespace) -> int:
    from .segmentation.export import export_command

    return export_command(args.model_dir, args.opset)


# ----------------------------------------------------------------------------------------------------- main

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
COMMANDS: dict[str, Command] = {
    "run": ("score a visits folder: masks, overlays, F-VASI / T-VASI, change from baseline", _add_run, _run),
    "segment": ("write class masks for a flat folder of images", _add_segment, _segment),
    "report": ("build the HTML cohort report of a run folder", _add_report, _report),
    "synth": ("synthetic vitiligo photos and cohorts with exact ground truth", _add_synth, _synth),
    "train": ("train a U-Net segmentation model from a config", _add_train, _train),
    "evaluate": ("evaluate a model against ground-truth masks", _add_evaluate, _evaluate),
    "model": ("model folders: export to ONNX", _add_model, _model),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``vitiseg`` parser with every command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="vitiseg", description="Vitiligo segmentation and VASI scoring from photos.")
    parser.add_argument("--version", action="version", version=f"vitiseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add, _) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(COMMANDS[args.command][2](args) or 0)
    except KeyboardInterrupt:
        logging.getLogger("vitiseg").error("interrupted; re-run the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
