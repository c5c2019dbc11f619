#!/usr/bin/env python
"""Write a copy of a model artifact whose ``config.json`` carries a colour refinement (``vitiseg.segmentation.artifact.with_refinement``).

The shipped model has no refinement (measured and not adopted: model card, "Experiments not adopted"); the
experiment's artifact was made with:

    python research/2026-11-30-colour-refinement/set_refinement.py --model runs/train/vitiseg-unet-mnv2-avg7 --config research/2026-11-30-colour-refinement/refine_colour.yaml \\
        --out runs/train/vitiseg-unet-mnv2-ref

``--off`` writes the copy without refinement (the network's own decision). The weights are copied byte for byte.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vitiseg.config import ConfigError
from vitiseg.segmentation.artifact import ModelError, with_refinement
from vitiseg.segmentation.refine import load_refine_config

log = logging.getLogger("set_refinement")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="source model folder (config.json + model.safetensors)")
    ap.add_argument("--out", required=True, help="folder of the new artifact")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--config", help="refinement YAML, e.g. research/2026-11-30-colour-refinement/refine_colour.yaml")
    g.add_argument("--off", action="store_true", help="no refinement")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        ref = None if a.off else load_refine_config(a.config)
        sha = with_refinement(a.model, a.out, ref)
    except (ConfigError, ModelError) as exc:
        log.error("%s", exc)
        return 2
    log.info("%s -> %s (weights sha256 %s, refinement %s)", a.model, a.out, sha[:12],
             "off" if ref is None else ref.method)
    return 0


if __name__ == "__main__":
    sys.exit(main())
