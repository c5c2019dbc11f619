"""The two spreadsheets of a visits folder, read strictly: ``manifest.csv`` and ``visits.csv``.

Every cell is read as text (UTF-8, a byte-order mark allowed). A file that cannot be read as a table (not UTF-8,
malformed rows, a required column missing) is a :class:`LayoutError`: one line for the user, exit code 2. Problems of
single rows of ``visits.csv`` never stop a run; each is logged as a warning and handled without guessing:

- a ``(patient_id, visit_id)`` listed more than once: identical rows count once; cells on which the rows disagree are
  left empty (which of two dates or two DLQI values is right cannot be known);
- a ``date`` that is not a date: kept as written, not used for ordering (that patient's visits are ordered by name);
- text in a column of numbers (``dlqi`` = ``twelve``): kept as written, left out of the statistics;
- a row without ``patient_id`` or ``visit_id``: ignored.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

CORE = ("patient_id", "visit_id", "date")
MAX_LISTED = 5  # examples named in one warning


class LayoutError(ValueError):
    """The visits folder or one of its spreadsheets cannot be used as it is (one clear line for the user)."""


def read_sheet(path: Path, required: list[str]) -> pd.DataFrame:
    """A CSV file as a table of text cells with stripped column names; LayoutError if unreadable or a required column
    is missing."""
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LayoutError(f"{path.name} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                          "save it as 'CSV UTF-8' and run again") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise LayoutError(f"{path.name} is not a readable CSV table: {str(exc).strip()}") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise LayoutError(f"{path.name} is missing column(s) {missing}; has {list(df.columns)}")
    return df


def is_date(text: str) -> bool:
    """Whether ``text`` is a calendar date pandas can order (empty text is not)."""
    if not text.strip():
        return False
    try:
        return not pd.isna(pd.Timestamp(text))
    except (ValueError, TypeError, OverflowError):
        return False


def _named(pairs: list[str]) -> str:
    more = f" and {len(pairs) - MAX_LISTED} more" if len(pairs) > MAX_LISTED else ""
    return "; ".join(pairs[:MAX_LISTED]) + more


def clean_visits(meta: pd.DataFrame, alias: Callable[[str], str] | None = None) -> pd.DataFrame:
    """``visits.csv`` as read by :func:`read_sheet` -> one row per (patient_id, visit_id), patient IDs passed through
    ``alias`` (pseudonymisation) first, with the warnings of the module docstring logged."""
    meta = meta.copy()
    if "date" not in meta.columns:
        meta["date"] = ""
    if alias is not None:
        meta["patient_id"] = meta["patient_id"].map(alias)
    blank = (meta["patient_id"].str.strip() == "") | (meta["visit_id"].str.strip() == "")
    if blank.any():
        log.warning("visits.csv: %d row(s) without patient_id or visit_id ignored", int(blank.sum()))
        meta = meta[~blank]
    rows, conflicts, repeats = [], [], []
    for (pid, vid), g in meta.groupby(["patient_id", "visit_id"], sort=False):
        row = g.iloc[0].to_dict()
        if len(g) > 1:
            differ = [c for c in g.columns if g[c].nunique() > 1]
            for c in differ:
                row[c] = ""
            (conflicts if differ else repeats).append(f"({pid}, {vid})" + (f": {', '.join(differ)}" if differ else ""))
        rows.append(row)
    if repeats:
        log.warning("visits.csv: identical rows listed more than once, counted once: %s", _named(repeats))
    if conflicts:
        log.warning("visits.csv: rows of the same visit disagree; those cells are left empty: %s", _named(conflicts))
    out = pd.DataFrame(rows, columns=meta.columns)
    bad_dates = [f"({r.patient_id}, {r.visit_id}): {r.date!r}" for r in out.itertuples(index=False)
                 if r.date.strip() and not is_date(r.date)]
    if bad_dates:
        log.warning("visits.csv: not a date, so not used to order that patient's visits (ordered by name): %s",
                    _named(bad_dates))
    for c in [c for c in out.columns if c not in CORE]:
        text = out[c].str.strip()
        num = pd.to_numeric(text.where(text != ""), errors="coerce")
        odd = out[(text != "") & num.isna()]
        if num.notna().any() and len(odd):
            cells = [f"({r['patient_id']}, {r['visit_id']}): {r[c]!r}" for r in odd.to_dict("records")]
            log.warning("visits.csv: column %r holds numbers, but not in %s; those cells are kept as written and "
                        "left out of the statistics", c, _named(cells))
    return out
