"""The ``vitiseg`` command line: flags reach the configuration, each command's exit codes, ``python -m vitiseg``."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest

from vitiseg.cli import COMMANDS, build_parser, overrides_from_args
from vitiseg.cli import main as cli_main


def test_flags_become_config_overrides() -> None:
    p = build_parser()
    args = p.parse_args(["run", "v", "--out", "o", "--model", "classical", "--device", "cpu", "--face-area", "skin",
                         "--normalise", "grey_world", "--no-report", "--backend", "torch", "--no-tracking"])
    assert overrides_from_args(args) == {"segmentation": {"model": "classical", "device": "cpu", "backend": "torch"},
                                         "face": {"area": "skin"}, "normalise": {"method": "grey_world"},
                                         "report": False, "tracking": {"enabled": False}}
    assert overrides_from_args(p.parse_args(["run", "v", "--out", "o"])) == {}  # no flag, no override
    assert overrides_from_args(p.parse_args(["segment", "i", "--out", "o", "--model", "m"])) == {
        "segmentation": {"model": "m"}}
    with pytest.raises(SystemExit):
        p.parse_args(["run", "v", "--out", "o", "--normalise", "retinex"])


def test_python_dash_m_lists_every_command() -> None:
    r = subprocess.run([sys.executable, "-m", "vitiseg", "--help"], capture_output=True, text=True, check=True)
    assert all(f"    {name} " in r.stdout for name in COMMANDS), r.stdout
    assert set(COMMANDS) == {"run", "segment", "report", "config", "synth", "train", "evaluate", "model"}


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture) -> None:
    import vitiseg

    assert vitiseg.__version__ == metadata.version("vitiseg") != "0+unknown"
    with pytest.raises(SystemExit) as e:
        cli_main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out == f"vitiseg {vitiseg.__version__}\n"
    r = subprocess.run([sys.executable, "-m", "vitiseg", "--version"], capture_output=True, text=True, check=True)
    assert r.stdout == f"vitiseg {vitiseg.__version__}\n"


def test_a_missing_model_is_one_line_and_exit_2(visits_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "VITISEG_MODEL_DIR": str(tmp_path / "no-model")}
    for cmd in (["run", str(visits_dir), "--out", str(tmp_path / "o"), "--no-progress"],
                ["segment", str(visits_dir / "P01" / "v1"), "--out", str(tmp_path / "s")]):
        r = subprocess.run([sys.executable, "-m", "vitiseg", *cmd], capture_output=True, text=True, env=env)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert len(lines) == 1 and lines[0].startswith("ERROR: "), r.stderr
        assert "the shipped model not found" in lines[0] and "--model classical" in lines[0]
    assert not (tmp_path / "o").exists() and not (tmp_path / "s").exists()  # no half-made output folder


def test_run_exit_codes(visits_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("normalise:\n  methd: none\n")
    assert cli_main(["run", str(visits_dir), "--out", str(tmp_path / "o1"), "--config", str(bad)]) == 2
    assert cli_main(["run", str(tmp_path / "nothing"), "--out", str(tmp_path / "o0")]) == 2
    args = ["run", str(visits_dir), "--out", str(tmp_path / "o2"), "--model", "classical", "--normalise", "none",
            "--face-area", "skin", "--no-report", "--no-progress"]
    # the classical baseline cannot find skin in a photo that is 100 % depigmented (no pigmented seed): that photo
    # is an explicit per-photo error and the exit code says so
    assert cli_main(args) == 1
    ph = pd.read_csv(tmp_path / "o2" / "photos.csv", keep_default_na=False).set_index("path")
    assert ph.loc["P02/v1/face.png", "error"] == "no skin found in the photo (nothing to measure)"
    assert (ph["status"] == "ok").sum() == 9
    assert "no skin found" in (tmp_path / "o2" / "run.log").read_text()
    v = pd.read_csv(tmp_path / "o2" / "visits.csv").set_index(["patient_id", "visit_id"])
    # the classical baseline on clean key photos: within 0.05 of the exact F-VASI
    assert v.loc[("P01", "v1"), "f_vasi"] == pytest.approx(1.5, abs=0.05)
    assert v.loc[("P01", "v2"), "t_vasi"] == pytest.approx(3.35, abs=0.1)
    (visits_dir / "P02" / "v1" / "face.png").unlink()
    assert cli_main(args) == 0


def test_user_mistakes_of_the_other_commands_exit_2(tmp_path: Path) -> None:
    assert cli_main(["report", str(tmp_path / "nothing")]) == 2
    bad = tmp_path / "train.yaml"
    bad.write_text("name: x\ndata: {sources: []}\nlearning_rate: 1\n")
    assert cli_main(["train", "--config", str(bad), "--out", str(tmp_path / "t")]) == 2
    assert cli_main(["synth", "dataset", "--skin-root", str(tmp_path / "none"), "--out", str(tmp_path / "d"),
                     "--n", "2"]) == 2
    assert cli_main(["synth", "cohort", "--out", str(tmp_path / "c"), "--preset", "no-such-preset",
                     "--background", "procedural"]) == 2
    assert not (tmp_path / "t" / "last.pt").exists() and not (tmp_path / "c").exists()
