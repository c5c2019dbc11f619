"""Change from baseline and responder flags per patient visit."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vitiseg.scoring.longitudinal import longitudinal, percent_change, responder


def test_percent_change_and_responders() -> None:
    assert percent_change(0.34, 1.0) == pytest.approx(-66.0)
    assert math.isnan(percent_change(0.5, 0.0)) and math.isnan(percent_change(float("nan"), 1.0))
    assert responder(-75.0, 75) is True and responder(-74.9, 75) is False and responder(float("nan"), 50) is None
    assert responder(-50.0, 50) is True  # "at least 50 % lower" includes exactly 50 %


def test_complete_visits_give_tvasi50_partial_ones_do_not() -> None:
    common = dict(date="", missing_regions="")
    visits = pd.DataFrame([
        dict(patient_id="A", visit_id="w0", visit_index=0, f_vasi=1.0, t_vasi=2.0, t_vasi_partial=False, **common),
        dict(patient_id="A", visit_id="w12", visit_index=1, f_vasi=0.1, t_vasi=1.0, t_vasi_partial=False, **common),
        dict(patient_id="B", visit_id="w0", visit_index=0, f_vasi=0.0, t_vasi=4.0, t_vasi_partial=False, **common),
        dict(patient_id="B", visit_id="w12", visit_index=1, f_vasi=0.0, t_vasi=2.5, t_vasi_partial=True,
             date="", missing_regions="feet"),
    ])
    lg = longitudinal(visits).set_index(["patient_id", "visit_id"])
    a = lg.loc[("A", "w12")]
    assert a["baseline_visit_id"] == "w0"
    assert a["f_vasi_change_pct"] == pytest.approx(-90.0) and a["t_vasi_change_pct"] == pytest.approx(-50.0)
    assert [a["f_vasi50"], a["f_vasi75"], a["f_vasi90"], a["t_vasi50"]] == [True, True, True, True]
    b = lg.loc[("B", "w12")]
    assert b["f_vasi50"] is None and b["t_vasi50"] is None  # baseline 0 / partial visit: undefined, not a response
    assert math.isnan(b["t_vasi_change_pct"])
    assert lg.loc[("A", "w0"), "f_vasi50"] is None and lg.loc[("A", "w0"), "f_vasi_change_pct"] == 0.0


@settings(max_examples=50)
@given(st.floats(0.01, 3), st.floats(0, 1))
def test_fvasi_flags_consistent(base: float, ratio: float) -> None:
    change = percent_change(base * ratio, base)
    flags = [responder(change, t) for t in (50, 75, 90)]
    assert flags == sorted(flags, reverse=True)  # a 90 responder is a 75 and a 50 responder
    assert flags[0] == (ratio <= 0.5 + 1e-9)
