"""Worker processes and Ray actors give the tables and masks of the in-process run, byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vitiseg.cli import main as cli_main

OUTPUTS = ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv")


def _classical_run(visits: Path, out: Path, *extra: str) -> int:
    return cli_main(["run", str(visits), "--out", str(out), "--model", "classical", "--normalise", "none",
                     "--face-area", "skin", "--no-report", "--no-progress", *extra])


def test_parallel_workers_give_identical_tables(visits_dir: Path, tmp_path: Path) -> None:
    (visits_dir / "P02" / "v1" / "face.png").unlink()  # 100 % white: the classical baseline cannot score it
    assert _classical_run(visits_dir, tmp_path / "a") == 0
    assert _classical_run(visits_dir, tmp_path / "b", "--workers", "2") == 0
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    masks = sorted((tmp_path / "a" / "masks").rglob("*.png"))
    assert len(masks) == 9
    for m in masks:
        assert m.read_bytes() == (tmp_path / "b" / m.relative_to(tmp_path / "a")).read_bytes()
    run_json = json.loads((tmp_path / "b" / "run.json").read_text())
    assert run_json["executor"] == {"kind": "local", "workers": 2, "ray_address": None}


def test_ray_executor_matches_local(visits_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="optional extra vitiseg[distributed]; installed by .ci/run")
    (visits_dir / "P02" / "v1" / "face.png").unlink()
    assert _classical_run(visits_dir, tmp_path / "a") == 0
    assert _classical_run(visits_dir, tmp_path / "r", "--executor", "ray", "--workers", "2") == 0
    for name in OUTPUTS:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "r" / name).read_bytes(), name
