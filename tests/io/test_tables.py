"""Result tables on disk: CSV with 6 significant digits and \\n line ends, SQLite with the same rows; atomic files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from vitiseg.io.files import atomic_write_text, sha256_file
from vitiseg.io.tables import write_csv, write_sqlite


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
