"""Command-line entry point ``vitiseg``: argument parsing only.

Each command is an ``_add_<command>`` function that declares its arguments (with one example in its epilog) and a
``_<command>`` handler that calls exactly one function of the package with them (imported when the command runs, so
``vitiseg --help`` stays fast). Option names are the same across commands: ``--out``, ``--workers``, ``--device``,
``--no-progress``, ``-v/--verbose`` (before or after the command). A user's mistake (:class:`vitiseg.usage.UsageError`,
a bad config) is one ``ERROR`` line and exit code 2.
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

DEFAULT_CONFIG_HELP = "YAML run config merged over the packaged defaults (print them: vitiseg config --default); " \
                      "unknown keys are rejected"


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples in epilogs keep their lines; every option with a real default shows it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("%(default)" in text or not action.option_strings or action.default in (None, False, argparse.SUPPRESS)
                or isinstance(action.default, bool)):
            return text
        return text + " (default: %(default)s)"


def _common(p: argparse.ArgumentParser, progress: bool = True) -> None:
    """Options every command takes: ``-v`` after the command, ``--no-progress`` where there is a progress bar."""
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="debug logging")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _segmenter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help=DEFAULT_CONFIG_HELP)
    p.add_argument("--model", help="'default' (the shipped U-Net), 'classical' (training-free baseline) or a model "
                                   "folder (config.json + model.onnx or model.safetensors); default: the config's, i.e. 'default'")
    p.add_argument("--device", choices=DEVICES, help="where the U-Net runs; default: the config's, i.e. auto")
    p.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    p.add_argument("--normalise", choices=NORMALISE_METHODS,
                   help="colour normalisation of the classical baseline (a U-Net uses the one it was trained with)")


# ------------------------------------------------------------------------------------------------------ run

RUN_EPILOG = """example:
  vitiseg run study/visits --out study/out --title "Ruxolitinib cream, week 12"
  (then open study/out/report.html; re-running the same command resumes)"""


def _add_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("visits", type=Path, help="visits folder: VISITS/<patient>/<visit>/<region>[_<view>].jpg")
    p.add_argument("--out", type=Path, required=True, help="output folder, outside the visits folder (re-using it "
                                                            "resumes)")
    _segmenter_options(p)
    p.add_argument("--regions", type=Path, help="regions YAML replacing the packaged one (hand units, aliases)")
    p.add_argument("--face-area", choices=["truev", "skin"],
                   help="truev: TRuE-V facial area from landmarks (the config's default); skin: all skin in face "
                        "photos (close-ups of one facial sub-area)")
    p.add_argument("--title", help="study title at the top of the report (default: the output folder's name)")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report")
    p.add_argument("--no-tracking", action="store_true",
                   help="skip follow-up tracking (alignment to baseline, change maps, patches: about 1 s per "
                        "follow-up photo)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes (or Ray actors)")
    p.add_argument("--executor", choices=["local", "ray"], default="local",
                   help="local processes or a Ray cluster (pip install 'vitiseg[distributed]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster, e.g. ray://head:10001 or auto; "
                                          "a local Ray instance is started when omitted")
    p.add_argument("--pseudonymise", metavar="KEY",
                   help="replace patient IDs by a keyed hash (HMAC-SHA256) in every output, file paths included; "
                        "KEY: at least 16 characters, or @FILE to read it from a file")
    p.add_argument("--pseudonym-map", type=Path, metavar="FILE",
                   help="with --pseudonymise: write the ID -> pseudonym mapping to FILE (outside --out)")
    _common(p)


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
    if getattr(args, "no_tracking", False):
        o.setdefault("tracking", {})["enabled"] = False
    return o


def _run(args: argparse.Namespace) -> int:
    from .pipeline.run import run_command

    return run_command(args.visits, args.out, args.config, overrides_from_args(args), args.regions,
                       progress=not args.no_progress, workers=args.workers, executor=args.executor,
                       ray_address=args.ray_address, title=args.title, pseudonymise=args.pseudonymise,
                       pseudonym_map=args.pseudonym_map)


# -------------------------------------------------------------------------------------------------- segment

SEGMENT_EPILOG = """example:
  vitiseg segment photos/ --out masks/
  (OUT/<stem>.png: 0 background, 1 healthy skin, 2 depigmented skin, at each photo's own size)"""


def _add_segment(p: argparse.ArgumentParser) -> None:
    p.add_argument("images", type=Path, help="flat folder of images (other files and sub-folders are skipped)")
    p.add_argument("--out", type=Path, required=True, help="folder for <stem>.png class masks")
    _segmenter_options(p)
    p.add_argument("--overwrite", action="store_true", help="redo masks that already exist")
    _common(p)


def _segment(args: argparse.Namespace) -> int:
    from .pipeline.segment_folder import segment_folder

    return segment_folder(args.images, args.out, args.config, overrides_from_args(args), overwrite=args.overwrite,
                          progress=not args.no_progress)


# --------------------------------------------------------------------------------------------------- report

REPORT_EPILOG = """example:
  vitiseg report study/out --title "Ruxolitinib cream, week 12" --images link"""


def _add_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("out", type=Path, help="run folder written by `vitiseg run` (must contain visits.csv)")
    p.add_argument("--title", help="study title (default: the run's --title, else the folder's name)")
    p.add_argument("--images", choices=("embed", "link"), default="embed",
                   help="embed overlay thumbnails as base64 (one portable file) or link OUT/overlays/ relatively "
                        "(small page; keep it inside the run folder); either way a click opens the full overlay "
                        "file")
    p.add_argument("--group-by", choices=("auto", "visit_id", "visit_index"), default="auto",
                   help="how visits are matched across patients (auto: visit_id when ids are a shared schedule)")
    p.add_argument("--include-partial-tvasi", action="store_true",
                   help="keep partial T-VASI (regions not photographed) in T-VASI statistics")
    p.add_argument("--thumb-px", type=int, default=320, help="long side of embedded overlay thumbnails (px)")
    _common(p)


def _report(args: argparse.Namespace) -> int:
    from .report.html import report_command

    return report_command(args.out, images=args.images, group_by=args.group_by,
                          include_partial_tvasi=args.include_partial_tvasi, thumb_px=args.thumb_px, title=args.title,
                          progress=not args.no_progress)


# --------------------------------------------------------------------------------------------------- config

CONFIG_EPILOG = """examples:
  vitiseg config --default > my.yaml        # the packaged defaults, with comments; edit, then
  vitiseg config my.yaml                    # check it and print what vitiseg run --config my.yaml will use"""


def _add_config(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", nargs="?", type=Path, help="run config YAML to check and print resolved over the defaults")
    p.add_argument("--default", action="store_true", help="print the packaged default run config")
    _common(p, progress=False)


def _config(args: argparse.Namespace) -> int:
    from .config import config_text

    sys.stdout.write(config_text(args.file, default=args.default))
    return 0


# ---------------------------------------------------------------------------------------------------- synth

SYNTH_EPILOG = """examples:
  vitiseg synth cohort --skin-root data/skin --out cohort/visits --preset ruxolitinib_wk12 --seed 0
  vitiseg synth dataset --skin-root data/skin --out synth/train --n 3000 --workers 4"""


def _add_synth(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="synth_command", metavar="SYNTH_COMMAND")
    sub.required = True
    d = sub.add_parser("dataset", help="synthetic images / class masks / truth JSON on real skin backgrounds",
                       formatter_class=HelpFormatter,
                       epilog="example:\n  vitiseg synth dataset --skin-root data/skin --out synth/train --n 3000 "
                              "--workers 4")
    d.add_argument("--skin-root", required=True, help="folder with <set>/{images,masks,splits.json}")
    d.add_argument("--out", required=True, help="output folder (resumable; grows with a larger --n)")
    d.add_argument("--n", type=int, required=True, help="number of samples")
    d.add_argument("--seed", type=int, default=0, help="random seed")
    d.add_argument("--size", type=int, default=384, help="square side in px")
    d.add_argument("--sets", default="fasseg_face_skin,abdominal_skin,hgr_hands_subset,pratheepan_skin",
                   help="comma-separated skin sets")
    d.add_argument("--split", default="all", choices=["train", "val", "test", "all"],
                   help="only backgrounds of this split (see vitiseg.synth.backgrounds for the split rule)")
    d.add_argument("--workers", type=int, default=1, help="processes rendering in parallel (same output as 1)")
    d.add_argument("--tone-shift", type=float, default=0.0,
                   help="share of samples (0-1) whose background skin is first darkened to a brown/dark ITA")
    d.add_argument("--tone-balance", type=float, default=0.0,
                   help="share of samples (0-1) whose background skin is re-toned, lighter or darker, to a "
                        "tone-balanced ITA (six bins from very light to dark; vitiseg.synth.tones)")
    d.add_argument("--extensive", type=float, default=0.0,
                   help="share of samples with extensive depigmentation (50-97 %% of the skin; vitiseg.synth.hard)")
    d.add_argument("--residual", type=float, default=0.0,
                   help="share of samples with small faint residual macules (0.3-5 %% of the skin)")
    _common(d)
    c = sub.add_parser("cohort", help="synthetic visits folder with exact F-VASI / T-VASI truth",
                       formatter_class=HelpFormatter,
                       epilog="example:\n  vitiseg synth cohort --skin-root data/skin --out cohort/visits "
                              "--preset ruxolitinib_wk12 --seed 0\n  (true scores in cohort/visits_truth/)")
    c.add_argument("--skin-root", default=None,
                   help="folder with the real skin sets (not needed with --background procedural)")
    c.add_argument("--out", required=True, help="visits folder to write")
    c.add_argument("--preset", default="small", help="ruxolitinib_wk12 | small | example")
    c.add_argument("--seed", type=int, default=0, help="random seed")
    c.add_argument("--patients", type=int, default=None, help="override the preset's patient count")
    c.add_argument("--size", type=int, default=None, help="long side in px (default: the preset's)")
    c.add_argument("--truth", default=None, help="truth folder (default: <out parent>/<out name>_truth)")
    c.add_argument("--background", default="real", choices=["real", "procedural"],
                   help="real skin photos (needs --skin-root) or procedural body parts (no external data)")
    c.add_argument("--camera-motion", type=float, default=0.0, metavar="S",
                   help="move the camera between visits (rotation, scale, perspective, shift; 1 = a hand-held "
                        "re-take) with the true transforms in TRUTH/tracking/ (default 0: the small default jitter)")
    c.add_argument("--repigmentation", default="threshold", choices=["threshold", "patterns"],
                   help="patterns: each lesion repigments from its margin, perifollicular islands or both, with the "
                        "true pattern and change maps in TRUTH/tracking/ (default: threshold)")
    c.add_argument("--background-split", default="heldout", choices=["heldout", "train"],
                   help="heldout: the skin sets' val/test photos, for measuring (never trained on); train: their "
                        "train photos, for a cohort-style TRAINING set (scripts/cohort_training_set.py)")
    _common(c)


def _synth(args: argparse.Namespace) -> int:
    from .synth.commands import cohort_command, dataset_command

    if args.synth_command == "dataset":
        return dataset_command(args.skin_root, args.out, args.n, args.seed, args.size,
                               [s.strip() for s in args.sets.split(",") if s.strip()], args.split,
                               workers=args.workers, tone_shift=args.tone_shift, progress=not args.no_progress,
                               tone_balance=args.tone_balance, extensive=args.extensive, residual=args.residual)
    return cohort_command(args.out, args.preset, args.seed, args.skin_root, args.patients, args.size, args.truth,
                          args.background, progress=not args.no_progress, camera_motion=args.camera_motion,
                          repigmentation=args.repigmentation, background_split=args.background_split)


# ---------------------------------------------------------------------------------------------------- train

TRAIN_EPILOG = """example:
  vitiseg train --config my_train.yaml --out runs/my-run --workers 4
  (re-running the same command resumes; RUN/best/ is a model folder for --model)"""


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, required=True, help="training config YAML")
    p.add_argument("--out", type=Path, help="run folder (default runs/train/<name>); an existing run there is resumed")
    p.add_argument("--device", choices=DEVICES, help="override the config's device")
    p.add_argument("--workers", "--loader-workers", dest="workers", type=int,
                   help="data-loader processes, overriding the config's loader_workers (0 = none)")
    _common(p)


def _train(args: argparse.Namespace) -> int:
    from .usage import UsageError, require_input_file

    require_input_file(args.config, "training config (--config)")
    try:
        from .training.trainer import train_command
    except ImportError as exc:  # the base install has no PyTorch
        raise UsageError(f"vitiseg train needs {exc.name}: pip install 'vitiseg[train]'") from None

    return train_command(args.config, args.out, device=args.device, loader_workers=args.workers,
                         progress=not args.no_progress)


# ------------------------------------------------------------------------------------------------- evaluate

EVALUATE_EPILOG = """example:
  vitiseg evaluate --images data/test/images --masks data/test/masks --out eval/default
  (OUT/summary.json: depigmented and skin Dice, fraction error; OUT/worst.jpg)"""


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
    p.add_argument("--max-images", type=int, default=None, help="evaluate at most this many images")
    p.add_argument("--normalise", choices=NORMALISE_METHODS, default=None,
                   help="colour normalisation of the classical baseline (a U-Net uses the one it was trained with)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="where the U-Net runs")
    p.add_argument("--backend", choices=BACKENDS, default="auto", help=BACKEND_HELP)
    p.add_argument("--out", type=Path, help="output folder (default runs/evaluate/<model>-<UTC time>)")
    p.add_argument("--groups", type=Path,
                   help="CSV with an 'id' column and label columns (e.g. a synthetic set's index.csv): "
                        "metrics are also reported per label of each --group-by column")
    p.add_argument("--group-by", default="set,kind",
                   help="comma-separated columns of --groups to stratify by")
    p.add_argument("--worst", type=int, default=12,
                   help="draw the N images with the most wrong pixels into OUT/worst.jpg (0: none)")
    _common(p)


def _evaluate(args: argparse.Namespace) -> int:
    from .evaluation.runner import evaluate_command

    return evaluate_command(args.model, args.images, args.masks, args.mask_kind, args.out, args.ids, args.split,
                            args.max_images, args.normalise, args.device, args.worst, args.groups, args.group_by,
                            backend=args.backend, progress=not args.no_progress)


# ---------------------------------------------------------------------------------------------------- model


MODEL_EPILOG = """example:
  vitiseg model export runs/train/my-run/best
  (writes model.onnx beside model.safetensors; vitiseg run then uses ONNX Runtime for it)"""


def _add_model(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="model_command", metavar="MODEL_COMMAND")
    sub.required = True
    e = sub.add_parser("export", help="write MODEL_DIR/model.onnx for ONNX Runtime and record its SHA-256 in "
                                      "config.json (needs vitiseg[train])",
                       description="Export a model folder's network to ONNX (dynamic size) and check it against "
                                   "PyTorch.", epilog=MODEL_EPILOG, formatter_class=HelpFormatter)
    e.add_argument("model_dir", type=Path, help="model folder with config.json and model.safetensors")
    e.add_argument("--opset", type=int, default=18, help="ONNX opset (default 18)")


def _model(args: argparse.Namespace) -> int:
    from .segmentation.export import export_command

    return export_command(args.model_dir, args.opset)


# ----------------------------------------------------------------------------------------------------- main

Command = tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int], str]
COMMANDS: dict[str, Command] = {
    "run": ("score a visits folder: masks, overlays, F-VASI / T-VASI, change from baseline", _add_run, _run,
            RUN_EPILOG),
    "segment": ("write class masks for a flat folder of images", _add_segment, _segment, SEGMENT_EPILOG),
    "report": ("build the HTML cohort report of a run folder", _add_report, _report, REPORT_EPILOG),
    "config": ("print the default run config, or check a run config file", _add_config, _config, CONFIG_EPILOG),
    "synth": ("synthetic vitiligo photos and cohorts with exact ground truth", _add_synth, _synth, SYNTH_EPILOG),
    "train": ("train a U-Net segmentation model from a config", _add_train, _train, TRAIN_EPILOG),
    "evaluate": ("evaluate a model against ground-truth masks", _add_evaluate, _evaluate, EVALUATE_EPILOG),
    "model": ("model folders: export to ONNX", _add_model, _model, MODEL_EPILOG),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``vitiseg`` parser with every command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="vitiseg", description="Vitiligo segmentation and VASI scoring from photos.",
                                     formatter_class=HelpFormatter,
                                     epilog="example:\n  vitiseg run study/visits --out study/out\n"
                                            "each command: vitiseg COMMAND --help")
    parser.add_argument("--version", action="version", version=f"vitiseg {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (help_text, add, _, epilog) in COMMANDS.items():
        add(sub.add_parser(name, help=help_text, description=help_text, epilog=epilog, formatter_class=HelpFormatter))
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` (default ``sys.argv[1:]``), run the command, return its exit code."""
    from .config import ConfigError
    from .console import setup_console_logging
    from .usage import UsageError

    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    setup_console_logging(verbose=args.verbose)
    log = logging.getLogger("vitiseg")
    try:
        return int(COMMANDS[args.command][2](args) or 0)
    except (UsageError, ConfigError) as exc:
        log.error("%s", exc)
        return 2
    except KeyboardInterrupt:
        log.error("interrupted; re-run the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
