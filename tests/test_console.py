"""What reaches the console: no MediaPipe/TFLite/absl start-up lines, plain INFO lines, prefixed warnings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from vitiseg.console import ConsoleFormatter, quiet_native_stderr

from helpers import REPO

NATIVE_NOISE = ("XNNPACK", "inference_feedback_manager", "absl::InitializeLog", "W0000")


def test_facemesh_start_up_lines_do_not_reach_the_console() -> None:
    code = ("import numpy as np\nfrom vitiseg.face import facial_area\n"
            "print(facial_area(np.zeros((96, 96, 3), np.uint8), 'front').status)\n"
            "import sys; print('still here', file=sys.stderr)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "no_face"
    assert not [n for n in NATIVE_NOISE if n in r.stderr], r.stderr
    assert "still here" in r.stderr  # the descriptor is restored after the model is made


def test_quiet_native_stderr_silences_descriptor_2_and_restores_it() -> None:
    code = ("import os\nfrom vitiseg.console import quiet_native_stderr\n"
            "with quiet_native_stderr():\n    os.write(2, b'native line\\n')\nos.write(2, b'after\\n')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(REPO)})
    assert r.stderr == "after\n"
    with quiet_native_stderr():  # in this process too: no error, the descriptor comes back
        pass
    os.fstat(2)


def test_console_lines_are_plain_for_progress_and_prefixed_for_warnings() -> None:
    f = ConsoleFormatter("%(message)s")
    rec = lambda lvl: logging.LogRecord("vitiseg.x", lvl, __file__, 1, "42 photos", None, None)  # noqa: E731
    assert f.format(rec(logging.INFO)) == "42 photos"
    assert f.format(rec(logging.WARNING)) == "WARNING: 42 photos"
    assert f.format(rec(logging.ERROR)) == "ERROR: 42 photos"
