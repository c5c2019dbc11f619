"""Result tables on disk: CSV (fixed float format, ``\n`` line ends) and one SQLite file, both written atomically.

This is the one CSV writer of the package. Every text cell and column name that a spreadsheet would take for a
formula (it begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, and is not a plain number) gets a
leading ``'`` (:func:`neutralise`, the OWASP rule against CSV injection; a carriage return inside a cell is written
as a line feed), so that a patient folder named ``=1+2`` or
``=HYPERLINK(...)`` is shown as text when a coordinator opens the CSV. Numbers are never changed: a float column and a
text cell such as ``-45.8`` stay plain numbers. SQLite keeps every value as it is (no neutralising): its columns get
the type of their values, not of their text: integers (and ``True``/``False``) ``INTEGER``, other numbers ``REAL``,
empty cells ``NULL``; identifiers (``*_id``, ``path``, ``visit``, ...) stay ``TEXT`` even when they look like numbers
(``001``). Each table may name its primary key.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..faults import fault_point
from .files import OutputWriteError, atomic_write_text, output_mode

log = logging.getLogger(__name__)

# columns kept as text whatever they hold: identifiers and labels
TEXT_COLUMNS = {"patient_id", "visit_id", "visit", "region", "view", "path", "sha256", "status", "error", "mask",
                "overlay", "face_area", "face_area_status", "date", "missing_regions", "tvasi_region", "arm",
                "reference_arm", "endpoint", "test"}
BOOL_TEXT = {"True": 1, "False": 0, "true": 1, "false": 0}
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """``value`` with a leading ``'`` when it is text a spreadsheet would run as a formula, and its carriage returns
    written as ``\n`` (Python's CSV writer leaves a lone ``\r`` unquoted, and readers take it for the end of the row);
    anything else unchanged.

    Idempotent (an already neutralised cell begins with ``'``), so tables read back and written again do not grow
    quotes."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START) and not _NUMBER.fullmatch(value):
        value = "'" + value
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def neutralise_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with :func:`neutralise` applied to the column names and to every cell of the text columns."""
    out = df.rename(columns=lambda c: neutralise(c) if isinstance(c, str) else c)
    for i, dtype in enumerate(out.dtypes):
        if pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype):
            out.isetitem(i, out.iloc[:, i].map(neutralise))
    return out


def csv_text(df: pd.DataFrame, float_format: str | None = "%.6g") -> str:
    """``df`` as neutralised CSV text without index (``float_format`` None: Python's shortest float repr)."""
    return neutralise_frame(df).to_csv(index=False, float_format=float_format, lineterminator="\n")


def write_csv(df: pd.DataFrame, path: Path, float_format: str | None = "%.6g") -> None:
    """``df`` as CSV without index; floats with 6 significant digits unless ``float_format`` says otherwise."""
    fault_point("table", Path(path).name)
    atomic_write_text(path, csv_text(df, float_format))


def write_csv_rows(rows: Iterable[Mapping[str, Any]], columns: list[str], path: Path) -> None:
    """Rows of already formatted values (dicts; missing keys and None are empty cells) as CSV, for writers that format
    their own numbers."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralise(c) for c in columns])
    for r in rows:
        w.writerow([neutralise(r.get(c)) for c in columns])
    fault_point("table", Path(path).name)
    atomic_write_text(path, buf.getvalue())


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


def quote_name(name: Any) -> str:
    """An SQLite identifier in double quotes, inner quotes doubled (column names come from the user's visits.csv)."""
    return '"' + str(name).replace('"', '""') + '"'


def _create(con: sqlite3.Connection, name: str, df: pd.DataFrame, key: list[str] | None) -> None:
    if key and df.duplicated(key).any():  # e.g. a manifest.csv listing one photo twice: keep the rows, drop the key
        log.warning("table %s: rows repeat its key %s; written without a primary key", name, key)
        key = None
    cols = [column_values(str(c), df[c]) for c in df.columns]
    decl = [f"{quote_name(c)} {t}" + (" NOT NULL" if key and c in key else "") for c, (t, _) in zip(df.columns, cols)]
    if key:
        decl.append("PRIMARY KEY (" + ", ".join(quote_name(k) for k in key) + ")")
    con.execute(f"DROP TABLE IF EXISTS {quote_name(name)}")
    con.execute(f"CREATE TABLE {quote_name(name)} ({', '.join(decl)})")
    rows = list(zip(*(v for _, v in cols))) if len(df.columns) else []
    con.executemany(f"INSERT INTO {quote_name(name)} VALUES ({', '.join('?' * len(df.columns))})", rows)


def write_sqlite(tables: dict[str, pd.DataFrame | None], path: Path, keys: dict[str, list[str]] | None = None,
                 keep_other_tables: bool = False) -> None:
    """Every ``name -> table`` into one SQLite file (types per the module rules, ``keys[name]`` as primary key),
    built beside ``path`` and renamed into place with the permissions of every output. ``keep_other_tables``:
    start from the existing file and replace only the given tables (a table given as None is dropped). A full disk
    or an unwritable folder raises :class:`~.files.OutputWriteError` and leaves no temporary file."""
    fault_point("table", Path(path).name)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vitiseg.", suffix=".sqlite.tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        if keep_other_tables and path.is_file():
            shutil.copyfile(path, tmp)
        con = sqlite3.connect(tmp)
        try:
            for name, df in tables.items():
                if df is None:  # a table that no longer applies (e.g. arms removed from visits.csv)
                    con.execute(f"DROP TABLE IF EXISTS {quote_name(name)}")
                else:
                    _create(con, name, df, (keys or {}).get(name))
            con.commit()
        finally:
            con.close()
        os.chmod(tmp, output_mode())
        fault_point("tmp", Path(path).name)
        os.replace(tmp, path)
    except (OSError, sqlite3.OperationalError) as exc:  # "database or disk is full" is an OperationalError
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + "-journal").unlink(missing_ok=True)
        raise OutputWriteError(path, exc) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        Path(tmp + "-journal").unlink(missing_ok=True)
        raise
