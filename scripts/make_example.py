#!/usr/bin/env python
"""Generate the bundled example visits folder (no binaries are kept in git: the example is made by this script).

    python scripts/make_example.py examples/visits [--skin-root ../shared/data/skin] [--seed 0]

With the research skin sets present (default ``../shared/data/skin`` beside the repository) the example is a small
synthetic cohort on real skin photographs (``vitiseg synth cohort --preset example``): 3 patients, baseline and
week 12, each region on a photo that shows it (face, neck, hands, forearm, trunk; no real photo of legs or feet
exists, so T-VASI is partial; see ``vitiseg.synth.trial.standins``), face photos on real faces so that the TRuE-V
facial area is found. Without them it falls back to procedural body parts (all seven regions) and writes
``examples/visits.yaml`` next to it, a config with ``face.area: skin`` (procedural faces have no landmarks). The true
scores go to ``<out>_truth/``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

from vitiseg.cli import main as vitiseg_main
from vitiseg.console import setup_console_logging

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="visits folder to create (replaced if it exists)")
    ap.add_argument("--skin-root", type=Path, default=REPO.parent / "shared" / "data" / "skin")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    setup_console_logging()
    if a.out.exists():
        shutil.rmtree(a.out)
    real = (a.skin_root / "fasseg_face_skin").is_dir()
    args = ["synth", "cohort", "--out", str(a.out), "--preset", "example", "--seed", str(a.seed)]
    if real:
        args += ["--skin-root", str(a.skin_root)]
    else:
        logging.warning("no skin data at %s: making a procedural example (face area: all skin)", a.skin_root)
        args += ["--background", "procedural"]
    rc = vitiseg_main(args)
    if rc != 0:
        return rc
    if not real:
        (a.out.parent / f"{a.out.name}.yaml").write_text("face:\n  area: skin\n")
        logging.info("run it with: vitiseg run %s --out OUT --config %s.yaml", a.out, a.out)
    logging.info("example visits folder: %s", a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
