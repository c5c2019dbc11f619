"""Configuration: defaults load, unknown keys are rejected with a clear message, regions resolve aliases."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitiseg.config import ConfigError, load_config, load_regions
from vitiseg.layout import parse_stem

ROOT = Path(__file__).resolve().parents[1]


def test_repo_configs_load() -> None:
    cfg = load_config(ROOT / "configs" / "default.yaml")
    assert cfg.normalise.method == "shades_of_grey" and cfg.normalise.minkowski_p == 6
    assert cfg == load_config()


def test_unknown_key_is_rejected_with_its_name(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("segmentation:\n  modell: classical\n")
    with pytest.raises(ConfigError, match=r"unknown key 'segmentation.modell'"):
        load_config(p)
    p.write_text("normalise:\n  method: retinex\n")
    with pytest.raises(ConfigError, match="normalise.method"):
        load_config(p)
    p.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(p)


def test_fingerprint_tracks_result_relevant_settings() -> None:
    a = load_config()
    assert a.fingerprint() == load_config(overrides={"segmentation": {"device": "cpu"}}).fingerprint()
    assert a.fingerprint() != load_config(overrides={"normalise": {"method": "none"}}).fingerprint()


def test_region_aliases_and_views() -> None:
    r = load_regions()
    assert parse_stem("hand_dorsal", r) == ("hands", "dorsal")
    assert parse_stem("face_left", r) == ("face", "left")
    assert parse_stem("upper_limbs_right", r) == ("upper_limbs", "right")
    assert parse_stem("Leg", r) == ("lower_limbs", "")
    assert parse_stem("elbowpit", r) is None


def test_regions_must_sum_to_100(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text("regions:\n  face: {hand_units: 3, tvasi_region: head_neck}\n")
    with pytest.raises(ConfigError, match="sum to 100"):
        load_regions(p)
