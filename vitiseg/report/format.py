"""Text formatting for the report page: escaping, numbers, median (IQR), P values, rates, data URIs."""

from __future__ import annotations

import base64
import html
import math
import re
from typing import Any

DASH = "\u2014"


def esc(x: Any) -> str:
    """HTML-escaped text of a value (None/NaN -> em dash)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return DASH
    return html.escape(str(x), quote=True)


def fmt(x: Any, digits: int = 2) -> str:
    """Fixed-point number, em dash when missing."""
    if x is None:
        return DASH
    try:
        v = float(x)
    except (TypeError, ValueError):
        return DASH
    if not math.isfinite(v):
        return DASH
    text = f"{v:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0" for tiny negatives


def fmt_median_iqr(med: Any, q1: Any, q3: Any, digits: int = 2) -> str:
    """``median (q1–q3)``, or ``median (q1 to q3)`` when a quartile is negative; em dash when there is no value."""
    if med is None or (isinstance(med, float) and not math.isfinite(med)):
        return DASH
    sep = " to " if (q1 is not None and float(q1) < 0) or (q3 is not None and float(q3) < 0) else "\u2013"
    return f"{fmt(med, digits)} ({fmt(q1, digits)}{sep}{fmt(q3, digits)})"


def fmt_p(p: Any) -> str:
    """P value: ``<0.001``, 3 decimals below 0.1, else 2 decimals; em dash when undefined."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return DASH
    p = float(p)
    if p < 0.001:
        return "<0.001"
    return f"{p:.3f}" if p < 0.1 else f"{p:.2f}"


def fmt_rate(k: Any, n: Any, lo: Any, hi: Any) -> str:
    """``k/n (r %; lo–hi)`` with percentages rounded to integers; em dash when n is 0/undefined."""
    if n is None or (isinstance(n, float) and not math.isfinite(n)) or int(n) == 0:
        return DASH
    k, n = int(k), int(n)
    return f"{k}/{n} ({100 * k / n:.0f}%; {100 * lo:.0f}\u2013{100 * hi:.0f})"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def group_label(g: str, mode: str) -> str:
    if mode == "visit_index":
        return "baseline" if g == "0" else f"visit {g}"
    return g


def slug(s: str) -> str:
    """An HTML id fragment: runs of characters other than letters, digits, ``_`` and ``-`` become ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", s).strip("-") or "x"
