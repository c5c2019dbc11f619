"""Guards of ``vitiseg run``: an empty visits folder and an output folder inside it are refused before any photo is
measured; visits listed in visits.csv without photos get no score and do not count as seen."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.pipeline.run import run
from vitiseg.scoring.cohort_stats import cohort_table
from vitiseg.usage import UsageError

from helpers import KeySegmenter

CFG = load_config(overrides={"face": {"area": "skin"}, "report": False})


def test_empty_visits_folder_and_output_inside_it_are_refused(tmp_path: Path, visits_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    with pytest.raises(UsageError, match="no photos in .*1 other file"):
        run(tmp_path / "empty", tmp_path / "o", CFG, segmenter=KeySegmenter(), progress=False)
    with pytest.raises(UsageError, match="inside the visits folder"):
        run(visits_dir, visits_dir / "results", CFG, segmenter=KeySegmenter(), progress=False)
    assert not (tmp_path / "o").exists() and not (visits_dir / "results").exists()


def test_visits_without_photos_get_no_score_and_are_not_seen(visits_dir: Path, tmp_path: Path, caplog) -> None:
    with (visits_dir / "visits.csv").open("a") as f:
        f.write("P03,v1,2026-01-09,9\nP03,v2,2026-04-03,8\n")  # listed, never photographed
    with caplog.at_level(logging.WARNING):
        run(visits_dir, tmp_path / "out", CFG, segmenter=KeySegmenter(), progress=False)
    assert "2 visit(s) in visits.csv have no photos (P03/v1, P03/v2)" in caplog.text
    v = pd.read_csv(tmp_path / "out" / "visits.csv").set_index(["patient_id", "visit_id"])
    assert v.loc[("P03", "v1"), "n_photos"] == 0 and v.loc[("P03", "v1"), "dlqi"] == 9  # the PRO is kept
    assert math.isnan(v.loc[("P03", "v1"), "t_vasi"]) and math.isnan(v.loc[("P03", "v1"), "f_vasi"])  # not 0.00
    rows = cohort_table(v.reset_index()).rows
    assert [(r["n_visits"], r["lost"]) for r in rows] == [(2, 1), (2, 1)]  # seen 2 of 3 at each visit
    assert [r["t_vasi_n"] for r in cohort_table(v.reset_index(), include_partial_tvasi=True).rows] == [2, 2]
