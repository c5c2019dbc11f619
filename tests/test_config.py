"""Configuration: packaged defaults, unknown keys rejected with their name, fingerprints, regions, one strict base."""

from __future__ import annotations

import inspect
import pkgutil
from importlib import import_module
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

import vitiseg
from vitiseg.config import (
    ConfigError,
    RunConfig,
    StrictModel,
    deep_merge,
    load_config,
    load_regions,
    read_yaml,
)

from helpers import assert_config_error


def test_packaged_defaults_are_the_documented_values() -> None:
    cfg = load_config()
    assert cfg.normalise.method == "shades_of_grey" and cfg.normalise.minkowski_p == 6
    assert cfg.segmentation.model == "default" and cfg.face.area == "truev"
    assert (cfg.io.work_long_side, cfg.io.max_pixels) == (1024, 80_000_000)
    assert cfg == RunConfig()  # the YAML and the typed defaults agree


def test_user_file_and_overrides_merge_over_the_defaults(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("io:\n  work_long_side: 512\nsegmentation:\n  classical:\n    min_skin_fraction: 0.2\n")
    cfg = load_config(p, overrides={"io": {"max_pixels": 1000}, "report": False})
    assert (cfg.io.work_long_side, cfg.io.max_pixels, cfg.report) == (512, 1000, False)
    assert cfg.segmentation.classical.min_skin_fraction == 0.2 and cfg.segmentation.model == "default"
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}, "e": 6}) == {"a": {"b": 5, "c": 2}, "d": 3,
                                                                                      "e": 6}
    (tmp_path / "empty.yaml").write_text("")
    assert read_yaml(tmp_path / "empty.yaml") == {} and load_config(tmp_path / "empty.yaml") == load_config()


def test_unknown_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    message = assert_config_error(load_config, p, "segmentation:\n  modell: classical\n",
                                  r"unknown key 'segmentation.modell'")
    assert str(p) in message
    for text, match in (("normalise:\n  method: retinex\n", "normalise.method"), ("- a list\n", "mapping"),
                        ("a: [unclosed\n", "not valid YAML")):
        assert_config_error(load_config, p, text, match)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ValidationError):  # typed configs are frozen
        load_config().io.work_long_side = 5  # type: ignore[misc]


def test_fingerprint_tracks_result_relevant_settings() -> None:
    a = load_config()
    assert a.fingerprint() == load_config(overrides={"segmentation": {"device": "cpu"}}).fingerprint()
    assert a.fingerprint() == load_config(overrides={"report": False, "outputs": {"jpeg_quality": 50}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"normalise": {"method": "none"}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"io": {"work_long_side": 512}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"face": {"area": "skin"}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"calibration": {"marker": {"size_cm": 2}}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"calibration": {"chart": {"detect": False}}}).fingerprint()
    # the report's consistency thresholds change no photo's result
    assert a.fingerprint() == load_config(overrides={"calibration": {"consistency": {"max_delta_L": 9}}}).fingerprint()


def test_calibration_section_is_typed(tmp_path: Path) -> None:
    cfg = load_config()
    assert cfg.calibration.marker.size_cm is None and cfg.calibration.chart.detect  # no scale unless a size is given
    p = tmp_path / "c.yaml"
    assert_config_error(load_config, p, "calibration:\n  marker:\n    sise_cm: 2\n",
                        r"unknown key 'calibration.marker.sise_cm'")
    assert_config_error(load_config, p, "calibration:\n  marker:\n    dictionary: DICT_9X9\n",
                        "calibration.marker.dictionary")
    assert_config_error(load_config, p, "calibration:\n  marker:\n    size_cm: -1\n", "calibration.marker.size_cm")
    assert_config_error(load_config, p, "calibration:\n  chart:\n    method: lut\n", "calibration.chart.method")


def test_regions_resolve_aliases_and_sum_to_100(tmp_path: Path) -> None:
    r = load_regions()
    assert {k: v.hand_units for k, v in r.regions.items()} == {
        "face": 3, "neck": 6, "hands": 5, "upper_limbs": 14, "trunk": 26, "lower_limbs": 39, "feet": 7}
    assert r.resolve(" Hand ") == "hands" and r.resolve("Leg") == "lower_limbs" and r.resolve("elbowpit") is None
    p = tmp_path / "r.yaml"
    assert_config_error(load_regions, p, "regions:\n  face: {hand_units: 3, tvasi_region: head_neck}\n", "sum to 100")
    assert_config_error(load_regions, p, "regions:\n  face: {hand_units: 50, tvasi_region: head_neck, aliases: [arm]}\n"
                        "  upper_limbs: {hand_units: 50, tvasi_region: upper_limbs, aliases: [arm]}\n",
                        "alias 'arm' maps to both")
    message = assert_config_error(load_regions, p, "regions:\n  hands: {hand_units: 100, tvasi_region: hands, "
                                  "aliases: [Palm]}\n", "reserved for the hand-unit photo")
    assert "hand_palmar" in message


def _pydantic_models() -> list[type[BaseModel]]:
    found = {}
    for info in pkgutil.walk_packages(vitiseg.__path__, "vitiseg."):
        if info.name == "vitiseg.__main__":
            continue
        try:
            mod = import_module(info.name)
        except ModuleNotFoundError as exc:  # a module of vitiseg[train]: checked where PyTorch is installed
            if exc.name in ("torch", "kornia", "safetensors", "segmentation_models_pytorch"):
                continue
            raise
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, BaseModel) and obj.__module__.startswith("vitiseg.") and obj is not StrictModel:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_typed_config_is_a_strict_model() -> None:
    """One strict base: every pydantic model of the package rejects unknown keys and is immutable."""
    models = _pydantic_models()
    assert len(models) > 20
    loose = sorted(f"{m.__module__}.{m.__qualname__}" for m in models if not issubclass(m, StrictModel))
    assert loose == []
