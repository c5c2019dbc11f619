"""Discovery of a visits folder: regions and views from file names, visit order, visits.csv, manifest.csv."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitiseg.config import load_regions
from vitiseg.io.layout import discover, natural_key, parse_stem

from helpers import SKIN_BOX, key_photo, save

REGIONS = load_regions()


def test_region_aliases_and_views() -> None:
    assert parse_stem("hand_dorsal", REGIONS) == ("hands", "dorsal")
    assert parse_stem("face_left", REGIONS) == ("face", "left")
    assert parse_stem("upper_limbs_right", REGIONS) == ("upper_limbs", "right")
    assert parse_stem("Leg", REGIONS) == ("lower_limbs", "")
    assert parse_stem("elbowpit", REGIONS) is None


def test_natural_sort() -> None:
    ids = ["week12", "week4", "Week0", "v10", "v2", "v1b", "v1a"]
    assert sorted(ids, key=natural_key) == ["v1a", "v1b", "v2", "v10", "Week0", "week4", "week12"]


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=12, unique=True))
def test_natural_sort_orders_numbers_as_numbers(nums: list[int]) -> None:
    assert sorted((f"week{n}" for n in nums), key=natural_key) == [f"week{n}" for n in sorted(nums)]


def test_discover_the_generated_visits_folder(visits_dir: Path) -> None:
    (visits_dir / "P01" / "v1" / "notes.txt").write_text("x")
    (visits_dir / "P01" / "v1" / "elbowpit.png").write_bytes(b"")
    (visits_dir / "stray.png").write_bytes(b"")
    lay = discover(visits_dir, REGIONS)
    ok = [(p.patient_id, p.visit_id, p.region, p.view, p.rel_path) for p in lay.photos if not p.error]
    assert ok == [("P01", "v1", "face", "", "P01/v1/face.png"), ("P01", "v1", "hands", "", "P01/v1/hands.png"),
                  ("P01", "v1", "trunk", "", "P01/v1/trunk.png"), ("P01", "v2", "face", "", "P01/v2/face.png"),
                  ("P01", "v2", "hands", "", "P01/v2/hands.png"), ("P01", "v2", "trunk", "", "P01/v2/trunk.png"),
                  ("P02", "v1", "face", "", "P02/v1/face.png"), ("P02", "v1", "hands", "", "P02/v1/hands.png"),
                  ("P02", "v2", "face", "", "P02/v2/face.png"), ("P02", "v2", "hands", "", "P02/v2/hands.png")]
    errors = {p.rel_path: p.error for p in lay.photos if p.error}
    assert set(errors) == {"P01/v1/elbowpit.png", "stray.png"}
    assert "unknown body region" in errors["P01/v1/elbowpit.png"] and "found depth 1" in errors["stray.png"]
    assert lay.skipped == ["P01/v1/notes.txt"]
    assert lay.visit_order == {"P01": ["v1", "v2"], "P02": ["v1", "v2"]}
    assert lay.pro_columns == ["dlqi"]
    assert lay.visit_meta.to_dict("records")[1] == {"patient_id": "P01", "visit_id": "v2", "visit_index": 1,
                                                    "date": "2026-04-01", "dlqi": "5"}


def test_dates_order_visits_before_their_names(tmp_path: Path) -> None:
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    for v in ("a", "b", "c"):
        save(tmp_path / "P" / v / "face.png", rgb)
    (tmp_path / "visits.csv").write_text("patient_id,visit_id,date\nP,a,2026-05-01\nP,b,2026-01-01\nP,c,2026-03-01\n")
    assert discover(tmp_path, REGIONS).visit_order == {"P": ["b", "c", "a"]}


def test_manifest_maps_flat_files(tmp_path: Path) -> None:
    rgb, _ = key_photo(100, 120, SKIN_BOX, [])
    save(tmp_path / "img_1.png", rgb)
    (tmp_path / "manifest.csv").write_text("path,patient_id,visit_id,region,view\nimg_1.png,A,w0,Face,front\n"
                                           "img_2.png,A,w0,elbowpit,\n")
    lay = discover(tmp_path, REGIONS)
    assert [(p.patient_id, p.visit_id, p.region, p.view, p.error) for p in lay.photos] == [
        ("A", "w0", "face", "front", ""), ("A", "w0", "", "", "unknown body region 'elbowpit' in manifest.csv")]
    (tmp_path / "manifest.csv").write_text("path,patient_id\nimg_1.png,A\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['visit_id', 'region'\]"):
        discover(tmp_path, REGIONS)


def test_palm_is_the_hand_unit_photo_not_a_hands_alias(tmp_path: Path) -> None:
    assert parse_stem("palm", REGIONS) == ("palm", "")
    assert parse_stem("Palm_left", REGIONS) == ("palm", "left")
    assert parse_stem("hand_palmar", REGIONS) == ("hands", "palmar")  # scored palm-side photos of the hands
    assert parse_stem("palms", REGIONS) == ("hands", "")
    rgb, _ = key_photo(100, 120, SKIN_BOX, [])
    save(tmp_path / "P" / "v1" / "palm.png", rgb)
    save(tmp_path / "P" / "v1" / "hands.png", rgb)
    assert sorted((p.region, p.error) for p in discover(tmp_path, REGIONS).photos) == [("hands", ""), ("palm", "")]
