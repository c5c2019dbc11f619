"""The wheel as a user installs it: built, installed into a new virtual environment (the base install: no
PyTorch), `vitiseg segment` measures photos with the shipped U-Net on ONNX Runtime, from the package's own model
folder. Minutes (a full dependency install): marked ``wheel``, run by ``.ci/run`` (``python -m pytest -m wheel``)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from helpers import REPO, sample_photos, save

pytestmark = pytest.mark.wheel
MODEL = "vitiseg/models/vitiseg-unet-lite0-v2"


def _run(*cmd: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd, timeout=1800)


def test_the_installed_wheel_measures_with_the_shipped_unet_on_onnx_runtime(tmp_path: Path) -> None:
    build = _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp_path / "dist", REPO, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("vitiseg-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assert {f"{MODEL}/{f}" for f in ("config.json", "model.safetensors", "model.onnx", "README.md")} <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)

    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    py = venv / "bin" / "python"
    pip = _run(py, "-m", "pip", "install", "-q", wheel, cwd=tmp_path)
    assert pip.returncode == 0, pip.stderr[-3000:]
    no_torch = _run(py, "-c", "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)",
                    cwd=tmp_path)
    assert no_torch.returncode == 0, "the base install pulled in PyTorch"

    photos = tmp_path / "photos"
    for name, rgb in sample_photos(2, seed=5):
        save(photos / f"{Path(name).stem}.png", rgb)
    seg = _run(venv / "bin" / "vitiseg", "segment", photos, "--out", tmp_path / "masks", cwd=tmp_path)
    assert seg.returncode == 0, seg.stderr[-3000:]
    model = json.loads((tmp_path / "masks" / "segment.json").read_text())["model"]
    config = json.loads((REPO / MODEL / "config.json").read_text())
    assert model["backend"] == "onnx" and model["name"] == "vitiseg-unet-lite0-v2"
    assert model["onnx_sha256"] == config["onnx"]["sha256"] and model["sha256"] == config["onnx"]["weights_sha256"]
    assert "site-packages" in model["path"]  # the installed package's model folder, not the repository's
    assert f"model.onnx sha256 {config['onnx']['sha256'][:12]}" in seg.stderr  # and the log says so
    assert len(list((tmp_path / "masks").glob("*.png"))) == 2
    version = _run(py, "-m", "vitiseg", "--version", cwd=tmp_path)
    assert version.stdout == f"vitiseg {tomllib.loads((REPO / 'pyproject.toml').read_text())['project']['version']}\n"
