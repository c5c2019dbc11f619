"""Number formats and escaping of the report: exact strings."""

from __future__ import annotations

from vitiseg.report.format import DASH, esc, fmt, fmt_median_iqr, fmt_p, fmt_rate, group_label, slug


def test_numbers_have_no_negative_zero_and_missing_values_are_a_dash() -> None:
    assert fmt(-0.02, 1) == "0.0" and fmt(-0.06, 1) == "-0.1" and fmt(None) == DASH == "\u2014"
    assert fmt("x") == DASH and fmt(float("nan")) == DASH and fmt("1.234") == "1.23"
    assert fmt_median_iqr(-0.02, -0.3, 0.0, 1) == "0.0 (-0.3 to 0.0)"
    assert fmt_median_iqr(1.0, 0.5, 2.0) == "1.00 (0.50\u20132.00)" and fmt_median_iqr(None, 1, 2) == DASH


def test_p_values_and_rates() -> None:
    assert [fmt_p(p) for p in (0.0004, 0.0123, 0.5, None, float("nan"))] == ["<0.001", "0.012", "0.50", DASH, DASH]
    assert fmt_rate(4, 8, 0.2152, 0.7848) == "4/8 (50%; 22\u201378)"
    assert fmt_rate(0, 0, None, None) == DASH


def test_escaping_labels_and_ids() -> None:
    assert esc("<b>&\"x'") == "&lt;b&gt;&amp;&quot;x&#x27;" and esc(None) == DASH and esc(float("inf")) == DASH
    assert group_label("0", "visit_index") == "baseline" and group_label("2", "visit_index") == "visit 2"
    assert group_label("week12", "visit_id") == "week12"
    assert slug("DLQI total") == "DLQI-total" and slug("tas-20") == "tas-20" and slug("%%") == "x"
