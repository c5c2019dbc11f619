"""Result tables on disk: CSV (fixed float format, ``\\n`` line ends) and one SQLite file, both written atomically.

SQLite columns get the type of their values, not of their text: integers (and ``True``/``False``) ``INTEGER``,
other numbers ``REAL``, empty cells ``NULL``; identifiers (``*_id``, ``path``, ``visit``, ...) stay ``TEXT`` even
when they look like numbers (``001``). Each table may name its primary key.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .files import atomic_write_text, output_mode

log = logging.getLogger(__name__)

# columns kept as text whatever they hold: identifiers and labels
TEXT_COLUMNS = {"patient_id", "visit_id", "visit", "region", "view", "path", "sha256", "status", "error", "mask",
                "overlay", "face_area", "face_area_status", "date", "missing_regions", "tvasi_region", "arm",
                "reference_arm", "endpoint", "test"}
BOOL_TEXT = {"True": 1, "False": 0, "true": 1, "false": 0}


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """``df`` as CSV without index; floats with 6 significant digits."""
    atomic_write_text(path, df.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _cell(v: Any) -> Any:
    """One value as SQLite stores it: None for missing, int for bools and integers, float, or str."""
    if v is None or v is pd.NA or (isinstance(v, (float, np.floating)) and not math.isfinite(float(v))):
        return None
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


def column_values(name: str, col: pd.Series) -> tuple[str, list[Any]]:
    """``(SQLite type, values)`` of one column (module rules); empty strings and NaN become NULL."""
    values = [None if v == "" else v for v in (_cell(x) for x in col.tolist())]
    if name in TEXT_COLUMNS or name.endswith("_id"):
        return "TEXT", [None if v is None else str(v) for v in values]
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, str) for v in present):  # text cells: booleans or numbers written as text?
        if all(v in BOOL_TEXT for v in present):
            return "INTEGER", [None if v is None else BOOL_TEXT[v] for v in values]
        if pd.to_numeric(pd.Series(present, dtype=object), errors="coerce").isna().any():
            return "TEXT", values
        values = [None if v is None else _cell(pd.to_numeric(v)) for v in values]
        present = [v for v in values if v is not None]
    if not all(isinstance(v, (int, float)) for v in present):
        return "TEXT", [None if v is None else str(v) for v in values]
    if all(isinstance(v, int) for v in present):
        return "INTEGER", values
    return "REAL", [None if v is None else float(v) for v in values]


def _create(con: sqlite3.Connection, name: str, df: pd.DataFrame, key: list[str] | None) -> None:
    if key and df.duplicated(key).any():  # e.g. a manifest.csv listing one photo twice: keep the rows, drop the key
        log.warning("table %s: rows repeat its key %s; written without a primary key", name, key)
        key = None
    cols = [column_values(str(c), df[c]) for c in df.columns]
    decl = [f'"{c}" {t}' + (" NOT NULL" if key and c in key else "") for c, (t, _) in zip(df.columns, cols)]
    if key:
        decl.append("PRIMARY KEY (" + ", ".join(f'"{k}"' for k in key) + ")")
    con.execute(f'DROP TABLE IF EXISTS "{name}"')
    con.execute(f'CREATE TABLE "{name}" ({", ".join(decl)})')
    rows = list(zip(*(v for _, v in cols))) if len(df.columns) else []
    con.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(df.columns))})', rows)


def write_sqlite(tables: dict[str, pd.DataFrame | None], path: Path, keys: dict[str, list[str]] | None = None,
                 keep_other_tables: bool = False) -> None:
    """Every ``name -> table`` into one SQLite file (types per the module rules, ``keys[name]`` as primary key),
    built beside ``path`` and renamed into place with the permissions of every output. ``keep_other_tables``:
    start from the existing file and replace only the given tables (a table given as None is dropped)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vitiseg.", suffix=".sqlite.tmp")
    os.close(fd)
    try:
        if keep_other_tables and path.is_file():
            shutil.copyfile(path, tmp)
        con = sqlite3.connect(tmp)
        try:
            for name, df in tables.items():
                if df is None:  # a table that no longer applies (e.g. arms removed from visits.csv)
                    con.execute(f'DROP TABLE IF EXISTS "{name}"')
                else:
                    _create(con, name, df, (keys or {}).get(name))
            con.commit()
        finally:
            con.close()
        os.chmod(tmp, output_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
