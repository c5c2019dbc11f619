"""Report sections of follow-up tracking: the cohort tables (exact medians from hand-made tables) and the patients'
patches in small multiples (from a real run of the tracking visits folder)."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from vitiseg.config import load_config
from vitiseg.pipeline.run import run
from vitiseg.report.tracking import TrackingTables, cohort_tracking_section, load_tracking

from helpers import KeySegmenter, write_tracking_visits


def tables() -> TrackingTables:
    ch = pd.DataFrame({
        "patient_id": ["P1", "P2", "P3", "P1", "P2"], "visit_id": ["w12"] * 3 + ["w24"] * 2,
        "visit_index": [1, 1, 1, 2, 2], "region": ["hands"] * 5,
        "status": ["aligned", "aligned", "not_aligned", "aligned", "aligned"],
        "repigmented_pct_of_baseline": [10.0, 30.0, 99.0, 50.0, 70.0], "new_pct_of_skin": [0.5, 1.5, 0.0, 1.0, 2.0]})
    pt = pd.DataFrame({
        "patient_id": ["P1", "P1", "P2", "P1", "P1", "P2"], "visit_id": ["w12"] * 3 + ["w24"] * 3,
        "visit_index": [1, 1, 1, 2, 2, 2], "region": ["hands"] * 6, "status": ["aligned"] * 6,
        "pattern": ["marginal", "marginal", "perifollicular", "marginal", "complete", "perifollicular"],
        "repigmented_share": [0.2, 0.4, 0.1, 0.6, 1.0, 0.3]})
    return TrackingTables(ch, pt)


def cells(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf"id='{table_id}'.*?<tbody>(.*?)</tbody>", html, re.S).group(1)
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body)]


def test_cohort_tables_give_median_iqr_per_region_visit_and_pattern():
    html = cohort_tracking_section(tables(), "visit_id")
    assert cells(html, "tracking-table") == [
        ["hands", "w12", "2 / 3", "20.0 (15.0\u201325.0)", "1.00 (0.75\u20131.25)"],
        ["hands", "w24", "2 / 2", "60.0 (55.0\u201365.0)", "1.50 (1.25\u20131.75)"]]
    rows = cells(html, "patch-table")
    assert rows[0] == ["hands", "w12", "20.0 (15.0\u201330.0) [3]", "30.0 (25.0\u201335.0) [2]",
                       "10.0 (10.0\u201310.0) [1]", "\u2014"]
    assert rows[1][2:] == ["60.0 (45.0\u201380.0) [3]", "60.0 (60.0\u201360.0) [1]", "30.0 (30.0\u201330.0) [1]",
                           "100.0 (100.0\u2013100.0) [1]"]
    assert "3 not aligned" not in html and "1 not aligned" in html


def test_grouping_by_visit_number_labels_the_visits():
    html = cohort_tracking_section(tables(), "visit_index")
    assert [r[1] for r in cells(html, "tracking-table")] == ["visit 1", "visit 2"]


def test_a_run_without_tracking_says_so():
    assert "was not run" in cohort_tracking_section(None, "visit_id")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("rep")
    visits, _ = write_tracking_visits(root / "visits")
    out = root / "out"
    run(visits, out, load_config(), segmenter=KeySegmenter(), progress=False)
    return out, (out / "report.html").read_text(encoding="utf-8")


def test_report_shows_each_patients_patches_with_share_and_pattern(report):
    out, html = report
    t = load_tracking(out)
    p01 = html[html.index("Patient P01"):html.index("Patient P02")]
    tiles = re.findall(r"<div class='tile'>(.*?)</table></div>", p01, re.S)
    assert len(tiles) == 2 * 1  # two patches of the baseline hands photo (the trunk has no baseline)
    share = t.patches[(t.patches.patch_id == 1) & (t.patches.visit_id == "v2")]["repigmented_share"].iloc[0]
    assert f"v2: {100 * share:.0f}%<br>marginal" in tiles[0]
    assert "v3:" in tiles[0] and tiles[0].count("src='data:image/jpeg;base64,") == 3  # baseline + 2 visits
    assert "<br>perifollicular" in tiles[1]
    p02 = html[html.index("Patient P02"):]
    assert "P02/v2/hands.png: not aligned to the baseline" in p02
    assert "id='tracking-table'" in html and "href='#tracking'" in html
