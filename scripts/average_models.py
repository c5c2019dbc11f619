#!/usr/bin/env python
"""Uniform weight average of model artifacts of one architecture (a "model soup"): ``vitiseg.segmentation.artifact.average_artifacts``.

The shipped model is such an average of stage 6's last epoch and stage 7's best and last epochs (model card, recipe).

    python scripts/average_models.py --out runs/train/vitiseg-unet-mnv2-avg7 \\
        runs/train/vitiseg-unet-mnv2-cpu6/last runs/train/vitiseg-unet-mnv2-cpu7/best runs/train/vitiseg-unet-mnv2-cpu7/last
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from vitiseg.segmentation.artifact import ModelError, average_artifacts

log = logging.getLogger("average_models")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder of the averaged artifact")
    ap.add_argument("models", nargs="+", help="model folders (config.json + model.safetensors), two or more")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sha = average_artifacts(a.models, a.out)
    except ModelError as exc:
        log.error("%s", exc)
        return 2
    log.info("average of %d models -> %s (sha256 %s)", len(a.models), a.out, sha[:12])
    return 0


if __name__ == "__main__":
    sys.exit(main())
