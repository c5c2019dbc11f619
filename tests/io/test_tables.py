"""Result tables on disk: CSV with 6 significant digits and \\n line ends, SQLite with the same rows; atomic files;
no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pandas as pd
from hypothesis import given
from hypothesis import strategies as st
import pytest

from vitiseg.io.files import atomic_write_text, sha256_file
from vitiseg.io.tables import FORMULA_START, neutralise, write_csv, write_csv_rows, write_sqlite

from helpers import REPO


def test_csv_and_sqlite_hold_the_same_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["P1", "P2"], "f_vasi": [1 / 3, float("nan")], "n": [3, 4],
                       "flag": [True, False]})
    write_csv(df, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == b"patient_id,f_vasi,n,flag\nP1,0.333333,3,True\nP2,,4,False\n"
    write_sqlite({"visits": df, "other": df.head(1)}, tmp_path / "t.sqlite")
    with sqlite3.connect(tmp_path / "t.sqlite") as con:
        rows = con.execute("select patient_id, f_vasi, n, flag from visits order by patient_id").fetchall()
        assert rows == [("P1", 1 / 3, 3, 1), ("P2", None, 4, 0)]
        assert con.execute("select count(*) from other").fetchone() == (1,)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_permissions_and_hash(tmp_path: Path) -> None:
    atomic_write_text(tmp_path / "a" / "b.txt", "héllo\n")
    p = tmp_path / "a" / "b.txt"
    assert p.read_bytes() == "héllo\n".encode()
    umask = os.umask(0)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask  # not the 0600 of a temporary file
    assert sha256_file(p) == hashlib.sha256("héllo\n".encode()).hexdigest()
    assert os.listdir(tmp_path / "a") == ["b.txt"]


# ------------------------------------------------------------------------------------ spreadsheet formula injection


def test_text_that_a_spreadsheet_would_run_is_neutralised_and_numbers_are_not(tmp_path: Path) -> None:
    df = pd.DataFrame({"patient_id": ["=1+2", "+cmd|' /C calc'!A0", "@SUM(A1)", "-2+3", "\tx", "\rx", "P-1", "'=x"],
                       "change": [-45.8, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
                       "pro": ["-45.8", "+3", "-", "1e-3", "-.5", "-1,5", "", "12"],
                       "=HYPERLINK(\"x\")": ["a"] * 8})
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", dtype=str, keep_default_na=False)
    assert back.columns.tolist() == ["patient_id", "change", "pro", "'=HYPERLINK(\"x\")"]
    assert back["patient_id"].tolist() == ["'=1+2", "'+cmd|' /C calc'!A0", "'@SUM(A1)", "'-2+3", "'\tx", "'\nx",
                                           "P-1", "'=x"]  # a carriage return would end the row: written as \n
    assert back["change"].tolist() == ["-45.8", "1", "2", "3", "4", "5", "6", "7"]  # numbers stay plain numbers
    assert back["pro"].tolist() == ["-45.8", "+3", "'-", "1e-3", "-.5", "'-1,5", "", "12"]  # numbers in text too


@given(st.text(max_size=12))
def test_neutralised_cells_never_start_a_formula_and_neutralising_twice_changes_nothing(s: str) -> None:
    n = neutralise(s)
    s = s.replace("\r\n", "\n").replace("\r", "\n")
    assert n == s or n == "'" + s
    assert not n.startswith(FORMULA_START) or _is_plain_number(n)
    assert neutralise(n) == n


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_written_as_text_are_never_changed(x: float) -> None:
    for text in (repr(x), f"{x:.6g}", f"{x:.3f}", str(int(x)) if abs(x) < 1e15 else "0"):
        assert neutralise(text) == text


def _is_plain_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return s.strip() == s and not any(w in s.lower() for w in ("inf", "nan", "_"))


def test_csv_rows_writer_neutralises_too(tmp_path: Path) -> None:
    write_csv_rows([{"id": "=cmd", "n": 3}, {"id": "ok"}], ["id", "n"], tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text() == "id,n\n'=cmd,3\nok,\n"


def test_every_csv_of_the_package_is_written_by_the_one_writer() -> None:
    """A CSV written any other way would not be neutralised: only vitiseg/io/tables.py may build CSV text."""
    offenders = []
    for p in sorted((REPO / "vitiseg").rglob("*.py")):
        if p.relative_to(REPO).as_posix() == "vitiseg/io/tables.py":
            continue
        text = p.read_text(encoding="utf-8")
        for pattern in (".to_csv(", "csv.writer(", "csv.DictWriter(", '.csv", "\\n".join', "csv.writer"):
            if pattern in text:
                offenders.append(f"{p.relative_to(REPO)}: {pattern}")
    assert offenders == []
def test_sqlite_types_keys_and_permissions(tmp_path: Path) -> None:
    # visits.csv text as the pipeline carries it: PRO cells are strings, empty when not recorded; ids look numeric
    df = pd.DataFrame({"patient_id": ["001", "002"], "visit_id": ["1", "1"], "dlqi": ["12", ""], "vns": ["", "3.5"],
                       "note": ["ok", "12"], "t_vasi_partial": [True, False], "flag": ["True", ""],
                       "f_vasi": [0.5, float("nan")]})
    write_csv(df, tmp_path / "visits.csv")
    write_sqlite({"visits": df}, tmp_path / "v.sqlite", {"visits": ["patient_id", "visit_id"]})
    with sqlite3.connect(tmp_path / "v.sqlite") as con:
        types = {r[1]: r[2] for r in con.execute("pragma table_info(visits)")}
        assert types == {"patient_id": "TEXT", "visit_id": "TEXT", "dlqi": "INTEGER", "vns": "REAL", "note": "TEXT",
                         "t_vasi_partial": "INTEGER", "flag": "INTEGER", "f_vasi": "REAL"}
        assert con.execute("select * from visits order by patient_id").fetchall() == [
            ("001", "1", 12, None, "ok", 1, 1, 0.5), ("002", "1", None, 3.5, "12", 0, None, None)]
        assert [r[1] for r in con.execute("pragma table_info(visits)") if r[5]] == ["patient_id", "visit_id"]
        with pytest.raises(sqlite3.IntegrityError):
            con.execute("insert into visits (patient_id, visit_id) values ('001', '1')")
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "v.sqlite") == mode(tmp_path / "visits.csv")  # not the 0600 of a temporary file
    # the report adds tables to the run's database and keeps the others
    write_sqlite({"cohort": pd.DataFrame({"visit": ["v1"], "n": [2]})}, tmp_path / "v.sqlite", keep_other_tables=True)
    with sqlite3.connect(tmp_path / "v.sqlite") as con:
        assert {r[0] for r in con.execute("select name from sqlite_master where type='table'")} == {"visits", "cohort"}
