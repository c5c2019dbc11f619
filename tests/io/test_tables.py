"""Result tables on disk: CSV with 6 significant digits and \\n line ends, SQLite with the same rows; atomic files."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pandas as pd

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
