#!/usr/bin/env python
"""Accuracy of follow-up tracking on a synthetic cohort with camera motion: see
:mod:`vitiseg.evaluation.tracking_accuracy`.

    python scripts/tracking_accuracy.py --visits V --truth V_truth --masks truth [--transform true]
    python scripts/tracking_accuracy.py --visits V --truth V_truth --run OUT [--out DIR]
"""

import sys

from vitiseg.evaluation.tracking_accuracy import main

if __name__ == "__main__":
    sys.exit(main())
