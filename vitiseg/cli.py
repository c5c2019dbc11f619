"""Command-line entry point ``vitiseg``.

Each sub-command lives in the module of its pipeline stage, which exposes
``add_arguments(parser: argparse.ArgumentParser) -> None`` and ``main(args: argparse.Namespace) -> int``.
Modules are imported only when their command runs, so ``vitiseg --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Never reach for the network for weights: fail in milliseconds instead of retrying for a minute.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("vitiseg.pipeline", "score a visits folder: masks, overlays, F-VASI / T-VASI, change from baseline"),
    "segment": ("vitiseg.pipeline_segment", "write class masks for a flat folder of images"),
    "report": ("vitiseg.report", "build the HTML cohort report of a run folder"),
    "synth": ("vitiseg.synth.cli", "synthetic vitiligo photos and cohorts with exact ground truth"),
    "train": ("vitiseg.train", "train a U-Net segmentation model from a config"),
    "evaluate": ("vitiseg.evaluate", "evaluate a model against ground-truth masks"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vitiseg", description="Vitiligo segmentation and VASI scoring from photos.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(only=command if command in COMMANDS else "")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args) or 0)
    except KeyboardInterrupt:
        logging.getLogger("vitiseg").error("interrupted; re-run the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
