"""The command line as a user meets it: every mistake is one ``ERROR`` line and exit code 2 (never a traceback), the
help of every command shows defaults and an example without repository paths, option names are the same across
commands, ``vitiseg config --default`` prints the packaged defaults."""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
from pathlib import Path

import pytest
import yaml

from vitiseg.cli import COMMANDS, build_parser, main as cli_main
from vitiseg.config import builtin_path


@pytest.fixture
def vitiseg(capsys):
    """``vitiseg ARGS`` in this process: its exit code and what it wrote (an uncaught exception fails the test)."""

    def call(*args: str) -> subprocess.CompletedProcess:
        capsys.readouterr()
        rc = cli_main(list(args))
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, rc, out.out, out.err)

    return call


def _one_error_line(r: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, stderr one ``ERROR: ...`` line holding every fragment, no traceback."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), r.stderr
    assert "Traceback" not in r.stderr
    for f in fragments:
        assert f in lines[0], (f, lines[0])


def test_user_mistakes_are_one_line_and_exit_2(tmp_path: Path, visits_dir: Path, vitiseg) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    (tmp_path / "empty").mkdir()
    missing = str(tmp_path / "missing")
    cases = [
        (("segment", missing, "--out", str(tmp_path / "o1")), ("image folder not found", "missing")),
        (("evaluate", "--images", missing, "--masks", missing, "--out", str(tmp_path / "o2")),
         ("image folder (--images) not found",)),
        (("run", str(visits_dir), "--out", str(a_file), "--model", "classical"), ("is a file",)),
        (("segment", str(visits_dir / "P01" / "v1"), "--out", str(a_file), "--model", "classical"),
         ("is a file",)),
        (("run", str(visits_dir), "--out", str(tmp_path / "o3"), "--model", missing), ("model folder not found",)),
        (("train", "--config", missing), ("training config (--config) not found",)),
        (("run", str(tmp_path / "empty"), "--out", str(tmp_path / "o4"), "--model", "classical"),
         ("no photos in", "empty")),
        (("run", str(visits_dir), "--out", str(visits_dir / "out"), "--model", "classical"),
         ("inside the visits folder",)),
    ]
    for args, fragments in cases:
        _one_error_line(vitiseg(*args), *fragments)
    assert not (visits_dir / "out").exists() and not (tmp_path / "o4").exists()


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        import onnxruntime

        return "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    return torch.cuda.is_available()


@pytest.mark.skipif(_has_cuda(), reason="this machine has CUDA")
def test_device_cuda_without_cuda_is_a_user_mistake(tmp_path: Path, visits_dir: Path, vitiseg) -> None:
    _one_error_line(vitiseg("run", str(visits_dir), "--out", str(tmp_path / "o"), "--device", "cuda"),
                    "--device cuda", "CUDA")
    if importlib.util.find_spec("torch") is None:
        return  # training needs vitiseg[train]: that is the mistake reported first
    cfg = tmp_path / "t.yaml"
    cfg.write_text("name: t\ndata: {sources: []}\n")
    _one_error_line(vitiseg("train", "--config", str(cfg), "--device", "cuda", "--out", str(tmp_path / "t")),
                    "--device cuda")


def _all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    out = []
    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, p in action.choices.items():
                out.append((name, p))
                for sub in p._actions:
                    if isinstance(sub, argparse._SubParsersAction):
                        out += [(f"{name} {n}", q) for n, q in sub.choices.items()]
    return out


def test_help_of_every_command_shows_defaults_and_an_example_without_repository_paths() -> None:
    parsers = _all_parsers()
    assert {n for n, _ in parsers} >= set(COMMANDS) | {"synth dataset", "synth cohort", "config"}
    for name, p in parsers:
        text = p.format_help()
        if name == "synth":
            continue  # a group: its two commands have their own help
        assert "example" in text and "vitiseg " in text.split("example")[-1], name
        for repo_path in ("vitiseg/defaults", "configs/", "models/", "../shared"):
            assert repo_path not in text, (name, repo_path)
    run_help = dict(parsers)["run"].format_help()
    assert "(default: 1)" in run_help and "(default: local)" in run_help  # --workers, --executor
    assert "(default: embed)" in dict(parsers)["report"].format_help()


def test_option_names_are_shared_and_verbose_works_after_the_command() -> None:
    p = build_parser()
    for argv in (["run", "v", "--out", "o"], ["segment", "i", "--out", "o"], ["report", "o"],
                 ["train", "--config", "c"], ["evaluate", "--images", "i", "--masks", "m"],
                 ["synth", "dataset", "--skin-root", "s", "--out", "o", "--n", "1"],
                 ["synth", "cohort", "--out", "o"]):
        assert p.parse_args(argv + ["--no-progress"]).no_progress is True, argv
        assert p.parse_args(argv + ["-v"]).verbose is True, argv
        assert p.parse_args(["-v"] + argv).verbose is True, argv
        assert p.parse_args(argv).verbose is False, argv
    assert p.parse_args(["train", "--config", "c", "--workers", "3"]).workers == 3
    assert p.parse_args(["train", "--config", "c", "--loader-workers", "2"]).workers == 2  # old name still works


def test_config_default_prints_the_packaged_run_config(tmp_path: Path, vitiseg) -> None:
    r = vitiseg("config", "--default")
    assert r.returncode == 0 and r.stdout == builtin_path("run.yaml").read_text(encoding="utf-8")
    mine = tmp_path / "my.yaml"
    mine.write_text("io:\n  work_long_side: 512\n")
    r = vitiseg("config", str(mine))
    resolved = yaml.safe_load(r.stdout)
    assert resolved["io"]["work_long_side"] == 512 and resolved["normalise"]["method"] == "shades_of_grey"
    mine.write_text("io:\n  work_long_sid: 512\n")
    r = vitiseg("config", str(mine))
    assert r.returncode == 2 and r.stderr.startswith("ERROR: ") and "unknown key 'io.work_long_sid'" in r.stderr
