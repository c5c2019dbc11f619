#!/usr/bin/env python
"""Compare a ``vitiseg run`` with the exact truth of a synthetic cohort: see :mod:`vitiseg.evaluation.cohort_accuracy`.

    python scripts/cohort_accuracy.py --truth V_truth --run OUT [--truth V2_truth --run OUT2] [--json FILE]
"""

import sys

from vitiseg.evaluation.cohort_accuracy import main

if __name__ == "__main__":
    sys.exit(main())
