"""Discovery of a visits folder: regions and views from file names, visit order, visits.csv, manifest.csv; hostile
layouts (manifest paths outside the folder, link loops, odd visits.csv rows) and pseudonymised discovery."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vitiseg.config import load_regions
from vitiseg.io.layout import LayoutError, discover, natural_key, parse_stem
from vitiseg.io.pseudonym import Pseudonymiser

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


# --------------------------------------------------------------------------------------------- hostile layouts


def test_manifest_paths_outside_the_visits_folder_are_refused_per_row(tmp_path: Path) -> None:
    root = tmp_path / "visits"
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    save(root / "in" / "ok.png", rgb)
    save(tmp_path / "secret.png", rgb)  # a real image outside the visits folder
    (root / "manifest.csv").write_text(
        "path,patient_id,visit_id,region\nin/ok.png,A,w0,face\n../secret.png,A,w0,hands\n"
        f"{tmp_path / 'secret.png'},A,w0,trunk\nin/../../secret.png,A,w0,neck\n./in/./x/../ok.png,A,w1,face\n"
        "in/ok.png,A,w2,face\n,A,w0,feet\nin/ok.png,,w0,feet\n")
    lay = discover(root, REGIONS)
    got = [(p.rel_path, p.error) for p in lay.photos]
    assert got == [
        ("in/ok.png", ""),
        ("../secret.png", "path '../secret.png' in manifest.csv leads outside the visits folder: refused"),
        (str(tmp_path / "secret.png"), f"absolute path '{tmp_path / 'secret.png'}' in manifest.csv refused: paths "
                                       "must be relative to the visits folder"),
        ("in/../../secret.png", "path 'in/../../secret.png' in manifest.csv leads outside the visits folder: refused"),
        ("in/ok.png", "'./in/./x/../ok.png' is listed more than once in manifest.csv"),
        ("in/ok.png", "'in/ok.png' is listed more than once in manifest.csv"),
        ("", "empty path in manifest.csv"),
        ("in/ok.png", "'in/ok.png' is listed more than once in manifest.csv"),
    ]
    assert lay.photos[0].path == root / "in" / "ok.png"
    assert all(p.path.is_relative_to(root) for p in lay.photos)  # nothing outside is ever opened


def test_symbolic_links_are_followed_and_a_loop_is_reported_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "visits"
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    save(root / "P1" / "v1" / "face.png", rgb)
    save(tmp_path / "store" / "P2" / "v1" / "hands.png", rgb)
    (root / "P2").symlink_to(tmp_path / "store" / "P2")  # a patient folder linked in from a photo store
    (root / "P1" / "v1" / "loop").symlink_to(root / "P1")  # a folder inside itself
    (root / "P1" / "v1" / "self.png").symlink_to("self.png")  # a link to itself
    (root / "P1" / "v1" / "trunk.png").symlink_to(tmp_path / "gone.png")  # dangling
    lay = discover(root, REGIONS)
    assert [(p.rel_path, p.error) for p in lay.photos] == [
        ("P1/v1/face.png", ""), ("P1/v1/self.png", "broken or looping symbolic link"),
        ("P1/v1/trunk.png", "broken or looping symbolic link"), ("P2/v1/hands.png", "")]
    assert lay.skipped == ["P1/v1/loop"]


def test_gif_photos_are_errors_not_silently_ignored(tmp_path: Path) -> None:
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    save(tmp_path / "P1" / "v1" / "face.gif", rgb)
    (p,) = discover(tmp_path, REGIONS).photos
    assert (p.patient_id, p.region) == ("P1", "face") and p.error.startswith("GIF is not supported: its 256-colour")


VISITS_HEAD = "patient_id,visit_id,date,dlqi,notes\n"


def _photos(root: Path) -> None:
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    for v in ("a", "b"):
        save(root / "P1" / v / "face.png", rgb)


def test_odd_visits_csv_rows_are_warned_about_and_never_guessed(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                                ) -> None:
    _photos(tmp_path)
    (tmp_path / "visits.csv").write_text(
        VISITS_HEAD + "P1,a,2026-05-01,twelve,x\nP1,a,2026-05-01,twelve,x\nP1,b,next tuesday,5,y\n"
        "P1,b,next tuesday,7,y\n,c,2026-01-01,1,\n")
    with caplog.at_level("WARNING", logger="vitiseg.io.visit_sheets"):
        lay = discover(tmp_path, REGIONS)
    assert lay.visit_meta.to_dict("records") == [
        {"patient_id": "P1", "visit_id": "a", "visit_index": 0, "date": "2026-05-01", "dlqi": "twelve", "notes": "x"},
        {"patient_id": "P1", "visit_id": "b", "visit_index": 1, "date": "next tuesday", "dlqi": "", "notes": "y"}]
    assert [r.getMessage() for r in caplog.records] == [
        "visits.csv: 1 row(s) without patient_id or visit_id ignored",
        "visits.csv: identical rows listed more than once, counted once: (P1, a)",
        "visits.csv: rows of the same visit disagree; those cells are left empty: (P1, b): dlqi",
        "visits.csv: not a date, so not used to order that patient's visits (ordered by name): (P1, b): "
        "'next tuesday'",
    ]
    # one numeric cell besides 'twelve' makes dlqi a column of numbers: 'twelve' is named
    (tmp_path / "visits.csv").write_text(VISITS_HEAD + "P1,a,,twelve,\nP1,b,,5,\n")
    caplog.clear()
    with caplog.at_level("WARNING", logger="vitiseg.io.visit_sheets"):
        discover(tmp_path, REGIONS)
    assert [r.getMessage() for r in caplog.records] == [
        "visits.csv: column 'dlqi' holds numbers, but not in (P1, a): 'twelve'; those cells are kept as written and "
        "left out of the statistics"]


def test_unreadable_spreadsheets_are_one_clear_error(tmp_path: Path) -> None:
    _photos(tmp_path)
    (tmp_path / "visits.csv").write_bytes("patient_id,visit_id,notes\nP1,a,caf\xe9\n".encode("latin-1"))
    with pytest.raises(LayoutError, match=r"^visits.csv is not UTF-8 text \(byte 0xe9 at offset 34\); save it as "
                                          "'CSV UTF-8' and run again$"):
        discover(tmp_path, REGIONS)
    (tmp_path / "visits.csv").write_text('patient_id,visit_id\nP1,a\n"P1,b\n')
    with pytest.raises(LayoutError, match="^visits.csv is not a readable CSV table: "):
        discover(tmp_path, REGIONS)
    (tmp_path / "visits.csv").write_text("\ufeffpatient_id,visit_id,date\nP1,b,2026-01-01\nP1,a,2026-02-01\n")
    assert discover(tmp_path, REGIONS).visit_order == {"P1": ["b", "a"]}  # Excel's byte-order mark is fine


def test_pseudonymised_discovery_keeps_no_patient_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rgb, _ = key_photo(40, 40, (5, 35, 5, 35), [])
    save(tmp_path / "Jane Doe" / "v1" / "face.png", rgb)
    save(tmp_path / "Jane Doe" / "v1" / "elbowpit.png", rgb)
    save(tmp_path / "Jane Doe" / "scan.png", rgb)
    (tmp_path / "Jane Doe" / "v1" / "notes.txt").write_text("x")
    (tmp_path / "visits.csv").write_text("patient_id,visit_id,date\nJane Doe,v1,yesterday\n")
    ps = Pseudonymiser("k" * 16)
    with caplog.at_level("INFO"):
        lay = discover(tmp_path, REGIONS, ps)
    pj = ps.patient("Jane Doe")
    assert pj == "ps_" + hmac.new(b"k" * 16, b"Jane Doe", hashlib.sha256).hexdigest()[:12]
    assert [(p.patient_id, p.rel_path) for p in lay.photos] == [
        ("", f"{pj}/scan.png"), (pj, f"{pj}/v1/elbowpit.png"), (pj, f"{pj}/v1/face.png")]
    assert lay.skipped == [f"{pj}/v1/notes.txt"]
    assert list(lay.visit_order) == [pj] and lay.visit_meta["patient_id"].tolist() == [pj]
    assert caplog.records and not [r for r in caplog.records if "Jane" in r.getMessage()]
    assert ps.mapping_rows()[0] == {"kind": "patient", "original": "Jane Doe", "pseudonym": pj}
