"""The tracking-truth options of ``vitiseg synth cohort`` (camera motion, repigmentation patterns) are additive: without
them, the generator writes exactly the bytes it wrote before they existed.

The digests below were recorded from the generator at the commit before the options were added (main 5580c7b) with
the pinned dependencies (numpy 1.26, OpenCV 4.11, Pillow, mediapipe 0.10.14). A digest is the SHA-256 of the sorted
``{relative path: SHA-256 of the file}`` map of the visits and truth folders (``summary.json`` without its two
absolute paths).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from vitiseg.synth.trial.render import generate_cohort

from helpers import SHARED_DATA, needs_skin

PROCEDURAL_DIGEST = (94, "96488f793b60bda43ca88db1c4be4e5e2f6fd7747d75a04fffdc55826d6ebdd4")
REAL_DIGEST = (34, "8d6d9385196a3d077a274faf70f32fc81e5fc53fe9d199860c60c1c1c306a0d8")


def folder_digest(root: Path) -> tuple[int, str]:
    """(number of files, digest) of ``root/v`` and ``root/v_truth`` as described in the module docstring."""
    files = {}
    for sub in ("v", "v_truth"):
        for p in sorted((root / sub).rglob("*")):
            if p.is_file():
                data = p.read_bytes()
                if p.name == "summary.json":
                    d = json.loads(data)
                    d.pop("visits_dir"), d.pop("truth_dir")
                    data = json.dumps(d, sort_keys=True).encode()
                files[f"{sub}/{p.relative_to(root / sub).as_posix()}"] = hashlib.sha256(data).hexdigest()
    return len(files), hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def test_small_procedural_cohort_is_byte_identical_to_before(tmp_path):
    generate_cohort(tmp_path / "v", "small", seed=1, size=96, background="procedural", progress=False)
    assert folder_digest(tmp_path) == PROCEDURAL_DIGEST


@needs_skin
def test_small_real_cohort_is_byte_identical_to_before(tmp_path):
    pytest.importorskip("mediapipe")
    generate_cohort(tmp_path / "v", "small", seed=2, patients=1, size=160, skin_root=SHARED_DATA / "skin",
                    progress=False)
    assert folder_digest(tmp_path) == REAL_DIGEST
