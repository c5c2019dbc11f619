"""What the report adds for a study: its title, treatment arms with the between-arm comparison, a waterfall plot,
visit dates on the time axis, full-size overlays one click away, links to the data files, the full page width, and
the cohort tables in the run's SQLite database."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from vitiseg.io.images import write_jpeg
from vitiseg.io.tables import write_sqlite
from vitiseg.report.figures import visit_dates, waterfall_order
from vitiseg.report.html import build_report, stylesheet
from vitiseg.scoring.arms import compare_arms
from vitiseg.scoring.cohort_stats import cohort_table

from helpers import make_visits


def _run_folder(out: Path, arms: bool = True, title: str = "") -> Path:
    out.mkdir(parents=True)
    v = make_visits()
    if arms:  # given on the baseline rows only
        v["arm"] = np.where(v["visit_index"] == "0", np.where(v["patient_id"] < "P06", "ruxolitinib", "vehicle"), "")
    v.to_csv(out / "visits.csv", index=False)
    rows = []
    for r in v.itertuples(index=False):
        rel = f"{r.patient_id}/{r.visit_id}/face_front.jpg"
        write_jpeg(out / "overlays" / rel, np.full((60, 80, 3), 150, np.uint8))
        rows.append({"patient_id": r.patient_id, "visit_id": r.visit_id, "region": "face", "view": "front",
                     "path": rel, "status": "ok", "error": "", "fraction": 0.1, "skin_px": 100, "width": 80,
                     "height": 60, "overlay": f"overlays/{rel}"})
    pd.DataFrame(rows).to_csv(out / "photos.csv", index=False)
    (out / "run.json").write_text(json.dumps({"title": title, "model": {"name": "classical", "kind": "classical"}}))
    write_sqlite({"visits": v}, out / "vitiseg.sqlite")
    return out


def test_arms_title_waterfall_links_and_database(tmp_path: Path) -> None:
    out = _run_folder(tmp_path / "run", title="Trial X, week 24")
    page = build_report(out).read_text(encoding="utf-8")
    assert "<title>Trial X, week 24</title>" in page and "<h1>Trial X, week 24</h1>" in page
    assert "<title>Other</title>" in build_report(out, title="Other").read_text(encoding="utf-8")
    # arms: the page, cohort_arms.csv and cohort.json hold the comparison of scoring.arms
    visits = pd.read_csv(out / "visits.csv", dtype=str, keep_default_na=False)
    expected = compare_arms(visits, cohort_table(visits, pro_columns=["dlqi", "vns", "notes"])).to_frame()
    got = pd.read_csv(out / "cohort_arms.csv")
    assert len(got) == len(expected) > 0 and set(got["reference_arm"]) == {"vehicle"}
    np.testing.assert_allclose(got["p"].astype(float), expected["p"].astype(float), equal_nan=True)
    assert json.loads((out / "cohort.json").read_text())["arms"]["reference"] == "vehicle"
    assert "id='arm-comparison'" in page and "Arm ruxolitinib: n = 5" in page
    assert set(pd.read_csv(out / "cohort_by_arm.csv")["arm"]) == {"ruxolitinib", "vehicle"}
    # waterfall: one figure per score with a defined change
    section = page[page.index("<section id='waterfall'>"):]
    assert section.index("F-VASI waterfall plot") < section.index("</section>")
    # every thumbnail opens its full-size overlay file
    links = re.findall(r"<a href='([^']+)' title='full-size overlay'>", page)
    assert links and all((out / link).is_file() for link in links)
    # data files: a link for each file present, none for an absent one
    files = page[page.index("<section id='files'>"):]
    assert "href='visits.csv'" in files and "href='cohort_arms.csv'" in files and "href='failures.csv'" not in files
    # the run's database gets the cohort tables, the others stay
    with sqlite3.connect(out / "vitiseg.sqlite") as con:
        names = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
    assert names == {"visits", "cohort", "cohort_by_arm", "cohort_arms"}  # no regions.csv: no cohort_regions
    assert "no measured accuracy box" in page  # classical baseline: the box says why there is none


def test_without_arms_there_is_no_arm_section(tmp_path: Path) -> None:
    out = _run_folder(tmp_path / "run", arms=False)
    page = build_report(out).read_text(encoding="utf-8")
    assert "id='arms'" not in page and not (out / "cohort_arms.csv").exists()
    assert "<h1>vitiseg cohort report \u2014 run</h1>" in page


def test_waterfall_order_and_visit_dates() -> None:
    ch = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "change_pct": [-50.0, 20.0, np.nan, -50.0]})
    assert list(waterfall_order(ch)["patient_id"]) == ["b", "a", "d"]  # worst first, ties by id, NaN left out
    pv = pd.DataFrame({"date": ["2024-01-02", "2024-03-26"]})
    assert list(visit_dates(pv).dt.strftime("%j")) == ["002", "086"]
    assert visit_dates(pd.DataFrame({"date": ["2024-01-02", ""]})) is None  # one unknown date: visit order


def test_page_uses_the_full_window_width() -> None:
    main = re.search(r"main \{([^}]*)\}", stylesheet()).group(1)
    assert "max-width" not in main
