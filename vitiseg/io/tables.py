"""Result tables on disk: CSV (fixed float format, ``\n`` line ends) and one SQLite file, both written atomically."""

from __future__ import annotations

import os
import sqlite3
import tempfile
from pathlib import Path

import pandas as pd

from .files import atomic_write_text


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """``df`` as CSV without index; floats with 6 significant digits."""
    atomic_write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def write_sqlite(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Every ``name -> table`` into one SQLite file, built beside ``path`` and renamed into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vitiseg.", suffix=".sqlite.tmp")
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        try:
            for name, df in tables.items():
                df.to_sql(name, con, index=False, if_exists="replace")
            con.commit()
        finally:
            con.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
