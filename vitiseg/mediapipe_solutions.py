"""MediaPipe's bundled solutions (FaceMesh for :mod:`vitiseg.face`, Hands for :mod:`vitiseg.calibration.hand_unit`),
imported on first use and quietly: mediapipe 0.10.14 ships their models in its wheel, so they run offline."""

from __future__ import annotations

import os
import warnings
from typing import Any

# mediapipe 0.10.14 calls a protobuf API that protobuf 4.25 marks deprecated, once per image: not actionable here
warnings.filterwarnings("ignore", message="SymbolDatabase.GetPrototype", category=UserWarning)


def solutions() -> Any:
    """``mediapipe.solutions``, with MediaPipe's and TFLite's C++ info lines kept out of the log. A solution's graph
    prints more start-up lines on its first run: create it and run it once inside
    :func:`vitiseg.console.quiet_native_stderr`."""
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from .console import quiet_native_stderr

    with quiet_native_stderr():
        import mediapipe as mp  # heavy import, deferred

    return mp.solutions
