"""Result tables on disk: CSV (fixed float format, ``\n`` line ends) and one SQLite file, both written atomically.

This is the one CSV writer of the package. Every text cell and column name that a spreadsheet would take for a
formula (it begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, and is not a plain number) gets a
leading ``'`` (:func:`neutralise`, the OWASP rule against CSV injection; a carriage return inside a cell is written
as a line feed), so that a patient folder named ``=1+2`` or
``=HYPERLINK(...)`` is shown as text when a coordinator opens the CSV. Numbers are never changed: a float column and a
text cell such as ``-45.8`` stay plain numbers. SQLite keeps every value as it is.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sqlite3
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..faults import fault_point
from .files import OutputWriteError, atomic_write_text

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


def write_sqlite(tables: dict[str, pd.DataFrame], path: Path) -> None:
    """Every ``name -> table`` into one SQLite file, built beside ``path`` and renamed into place."""
    fault_point("table", Path(path).name)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".vitiseg.", suffix=".sqlite.tmp")
        os.close(fd)
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    try:
        con = sqlite3.connect(tmp)
        try:
            for name, df in tables.items():
                df.to_sql(name, con, index=False, if_exists="replace")
            con.commit()
        finally:
            con.close()
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
