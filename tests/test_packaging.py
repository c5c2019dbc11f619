"""What pyproject.toml promises: the licence file, the Python versions, the shipped model as package data, and the
split between the base install (measuring photos, no PyTorch) and the ``train`` extra."""

from __future__ import annotations

import tomllib

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from helpers import REPO

PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def _names(reqs: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in reqs}


def test_licence_file_matches_the_declared_licence() -> None:
    text = (REPO / "LICENSE").read_text(encoding="utf-8")
    assert PROJECT["project"]["license"] == "Apache-2.0"
    assert text.split()[:3] == ["Apache", "License", "Version"] and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_python_versions_exclude_3_13() -> None:
    spec = SpecifierSet(PROJECT["project"]["requires-python"])
    assert [v for v in ("3.9", "3.10", "3.11", "3.12", "3.13") if v in spec] == ["3.10", "3.11", "3.12"]


def test_the_base_install_measures_photos_without_pytorch() -> None:
    base = _names(PROJECT["project"]["dependencies"])
    extras = {k: _names(v) for k, v in PROJECT["project"]["optional-dependencies"].items()}
    training = {"torch", "torchvision", "segmentation-models-pytorch", "timm", "kornia", "safetensors", "onnx"}
    assert "onnxruntime" in base and "mediapipe" in base and not base & training
    assert extras["train"] >= training
    # the notebook test executes notebooks/walkthrough.ipynb: nbclient, nbformat, ipykernel
    assert extras["test"] == {"pytest", "hypothesis", "nbclient", "nbformat", "ipykernel"}
    assert extras["distributed"] == {"ray"} and not extras["test"] & training


def test_the_shipped_models_are_package_data() -> None:
    # the default (vitiseg-unet-lite0-v2) and the previous defaults, kept so that a study begun with one can go on with it
    data = PROJECT["tool"]["setuptools"]["package-data"]["vitiseg"]
    installed = {p.name for p in (REPO / "vitiseg" / "models").iterdir() if p.is_dir()}
    assert installed == {"vitiseg-unet-lite0-v2", "vitiseg-unet-lite0", "vitiseg-unet-mnv2"}
    for model in (REPO / "vitiseg" / "models").iterdir():
        if not model.is_dir():
            continue
        shipped = {p.name for p in model.iterdir()}
        assert shipped == {"config.json", "model.safetensors", "model.onnx", "README.md"}, model.name
        assert {f"models/*/*{p.suffix}" for p in model.iterdir()} <= set(data)
    assert not (REPO / "models").exists()  # one copy, inside the package
