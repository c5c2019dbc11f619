"""The HTML report and cohort.csv/json of a run folder built directly from the hand-worked cohort of
``helpers.make_visits``.

The run folder follows the contract of ``vitiseg run`` (visits.csv, photos.csv, run.json, overlays/). Expected
numbers are computed here from explicit arrays; the Chromium tests render the page headless and read back the visible
table, the stylesheet's colours and the embedded figure.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from vitiseg.cli import main as cli_main
from vitiseg.io.images import read_rgb, write_jpeg
from vitiseg.report.html import build_report, stylesheet

from helpers import load_script, make_visits, wilson_closed_form

shot = load_script("scripts/screenshot_report.py")


def make_run_folder(out: Path, visits: pd.DataFrame) -> Path:
    """Write visits.csv, photos.csv (2 photos per visit, overlays on disk), run.json into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    visits.to_csv(out / "visits.csv", index=False)
    rows = []
    rng = np.random.default_rng(0)
    for v in visits.itertuples(index=False):
        for region, view in (("face", "front"), ("hands", "dorsal")):
            rel = f"{v.patient_id}/{v.visit_id}/{region}_{view}.jpg"
            row = {"patient_id": v.patient_id, "visit_id": v.visit_id, "region": region, "view": view, "path": rel,
                   "sha256": "0" * 64, "width": 480, "height": 360, "skin_px": 120000, "depigmented_px": 30000,
                   "fraction": 0.25, "vasi_level": 0.25, "face_area_status": "ok" if region == "face" else "",
                   "status": "ok", "error": "", "mask": "", "overlay": f"overlays/{rel}", "face_area": ""}
            if region == "face" and v.f_vasi == "":
                row.update(status="error", error="truncated image file: image file is truncated (12 bytes)",
                           overlay="", skin_px="", depigmented_px="", fraction="", vasi_level="")
            elif v.patient_id == "P02" and v.visit_id == "baseline" and region == "hands":
                row.update(skin_px=500)  # 0.29 % of the frame -> quality warning
            if row["overlay"]:
                img = np.full((360, 480, 3), (205, 160, 130), np.uint8)
                img[60:300, 80:400] = rng.integers(0, 255, 3, dtype=np.uint8)
                write_jpeg(out / row["overlay"], img)
            rows.append(row)
    pd.DataFrame(rows).to_csv(out / "photos.csv", index=False)
    (out / "run.json").write_text(json.dumps({
        "model": {"name": "unet-test", "sha256": "ab" * 32}, "versions": {"vitiseg": "0.1.0"},
        "finished": "2024-01-01T00:00:00+00:00", "counts": {"photos": len(rows), "failed": 1},
        "pro_columns": ["dlqi", "vns", "notes"],
    }))
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = make_run_folder(tmp_path_factory.mktemp("run"), make_visits())
    build_report(out)
    return out


class TableReader(HTMLParser):
    """Text of every cell of every <table id=...>, plus every <img src>."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.imgs: list[dict[str, str]] = []
        self._tid: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self._tid = a.get("id", f"anon{len(self.tables)}")
            self.tables[self._tid] = []
        elif tag == "tr" and self._tid:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append(" ")
        elif tag == "img":
            self.imgs.append(a)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._tid].append(self._row)
            self._row = None
        elif tag == "table":
            self._tid = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html_text: str) -> TableReader:
    r = TableReader()
    r.feed(html_text)
    return r


def mi(values, digits=2) -> str:
    q1, m, q3 = np.percentile(np.asarray(values, float), [25, 50, 75])
    sep = " to " if min(q1, q3) < 0 else "\u2013"
    return f"{m:.{digits}f} ({q1:.{digits}f}{sep}{q3:.{digits}f})"


def rate(k, n) -> str:
    lo, hi = wilson_closed_form(k, n)
    return f"{k}/{n} ({100 * k / n:.0f}%; {100 * lo:.0f}\u2013{100 * hi:.0f})"


def pfmt(p) -> str:
    return "<0.001" if p < 0.001 else (f"{p:.3f}" if p < 0.1 else f"{p:.2f}")


def expected_week12_row() -> list[str]:
    """The visible week-12 row of the cohort table, computed from the raw fixture numbers."""
    fb = np.array([1.0, 2.0, 0.5, 1.6, 0.8, 2.4, 0.0, 1.0, 3.0])
    fc = np.array([0.4, 1.5, 0.5, 0.4, 0.9, 1.2, 0.0, 0.1, 2.1])
    pos = fb > 0
    tb = np.array([10, 20, 5, 16, 8, 24, 12, 2, 10], float)
    tc = np.array([6, 15, 5, 8, 9, 12, 10, 2, 4], float)
    return [
        "week12", "10 (10)", "0", "1",
        "9", mi(fc), mi(100 * (fc[pos] - fb[pos]) / fb[pos], 1), pfmt(stats.wilcoxon(fc - fb).pvalue),
        rate(4, 8), rate(2, 8), rate(1, 8),
        "9", mi(tc), mi(100 * (tc - tb) / tb, 1), pfmt(stats.wilcoxon(tc - tb).pvalue), rate(3, 9),
    ]


def test_cohort_csv_and_json_match_direct_computation(run_dir):
    csv = pd.read_csv(run_dir / "cohort.csv")
    js = json.loads((run_dir / "cohort.json").read_text())
    assert list(csv["visit"]) == ["baseline", "week12", "week24"] == js["visits"]
    assert js["group_by"] == "visit_id" and js["n_patients"] == 10 and js["pro_columns"] == ["dlqi", "vns"]
    w12 = csv.set_index("visit").loc["week12"]
    jw12 = js["rows"][1]
    fb = np.array([1.0, 2.0, 0.5, 1.6, 0.8, 2.4, 0.0, 1.0, 3.0])
    fc = np.array([0.4, 1.5, 0.5, 0.4, 0.9, 1.2, 0.0, 0.1, 2.1])
    p = stats.wilcoxon(fc - fb).pvalue
    for src in (w12, jw12):
        assert src["f_vasi_median"] == pytest.approx(np.median(fc))
        assert src["f_vasi_change_pct_median"] == pytest.approx(-40.0)
        assert src["f_vasi_p"] == pytest.approx(p, rel=1e-9)
        assert (src["f_vasi50_k"], src["f_vasi50_n"]) == (4, 8)
        assert (src["f_vasi50_ci_low"], src["f_vasi50_ci_high"]) == pytest.approx(wilson_closed_form(4, 8))
        assert (src["lost"], src["t_vasi_partial"]) == (0, 1)
    assert js["rows"][2]["lost"] == 1
    lines = (run_dir / "cohort.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert lines[2].split(",")[header.index("f_vasi50_k")] == "4"  # counts written as integers
    assert js["rows"][0]["f_vasi_p"] is None and math.isnan(csv.loc[0, "f_vasi_p"])
    assert not list(run_dir.glob(".*.tmp"))  # written atomically


def test_html_tables_match_direct_computation(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    t = read_tables(page)
    rows = t.tables["cohort-table"]
    assert rows[2][0] == "baseline"
    assert rows[3] == expected_week12_row()
    w24 = rows[4]
    assert w24[:4] == ["week24", "9 (10)", "1", "1"] and w24[8] == rate(7, 8)
    nri = t.tables["nri-table"]  # non-responder imputation: 9 F-VASI-eligible and 10 T-VASI-eligible patients
    assert nri[1] == ["week12", rate(4, 9), rate(2, 9), rate(1, 9), rate(3, 10)]
    assert nri[2] == ["week24", rate(7, 9), rate(3, 9), rate(1, 9), rate(7, 10)]
    dlqi = t.tables["pro-dlqi"]
    assert dlqi[1][:3] == ["baseline", "10", mi([12, 8, 5, 15, 3, 20, 10, 6, 9, 14], 1)]
    b = np.array([12, 8, 5, 15, 3, 20, 6, 9, 14], float)
    c = np.array([8, 8, 4, 10, 4, 12, 6, 5, 10], float)
    assert dlqi[2][3:] == ["9", mi(c - b, 1), pfmt(stats.wilcoxon(c - b).pvalue)]
    assert "pro-vns" in t.tables and "pro-notes" not in t.tables
    q = t.tables["quality-table"]
    issues = {(r[0], r[1], r[4]) for r in q[1:]}
    assert ("P07", "week12", "error") in issues and ("P02", "baseline", "warning") in issues
    assert any("truncated image file" in r[5] for r in q[1:])


def test_html_is_self_contained_and_images_decode(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"(src|href)\s*=\s*['\"]?(https?:)?//", page), "no network resources"
    assert "<script" not in page.lower()
    imgs = read_tables(page).imgs
    overlays = [i for i in imgs if i.get("class") == "overlay"]
    trajectories = [i for i in imgs if i.get("class") == "trajectory"]
    assert len(trajectories) == 10
    # every patient has baseline and latest overlays per region except P07's failed face photo at week12 (P07's
    # latest is week24) and P09 (lost at week24: latest is week12): 10 patients x 2 regions x 2 visits
    assert len(overlays) == 40
    for img in imgs:
        m = re.match(r"data:image/(png|jpeg);base64,(.*)$", img["src"], re.S)
        assert m, img["src"][:60]
        with Image.open(io.BytesIO(base64.b64decode(m.group(2)))) as im:
            im.load()
            assert min(im.size) > 16
            if img.get("class") == "overlay":
                assert max(im.size) == 320
    assert len(page.encode()) < 3_000_000


def test_link_mode_uses_relative_paths(tmp_path):
    out = make_run_folder(tmp_path / "run", make_visits())
    build_report(out, images="link")
    page = (out / "report.html").read_text(encoding="utf-8")
    srcs = [i["src"] for i in read_tables(page).imgs if i.get("class") == "overlay"]
    assert len(srcs) == 40 and len(set(srcs)) == 40
    photos = pd.read_csv(out / "photos.csv", keep_default_na=False)
    overlays = set(photos.loc[photos["overlay"] != "", "overlay"])
    assert set(srcs) <= overlays  # relative links to the run's overlays (baseline and latest visit of each patient)
    assert {s for s in overlays if "/baseline/" in s} <= set(srcs)
    assert "data:image/jpeg" not in page  # no overlay embedded (only the PNG figures are)


def test_escaping_and_visit_index_grouping(tmp_path):
    v = make_visits()
    v.loc[v["patient_id"] == "P01", "patient_id"] = "<b>&amp\"x"
    v["visit_id"] = [f"2024-0{int(k) + 1}-{10 + i:02d}" for i, k in enumerate(v["visit_index"])]
    out = make_run_folder(tmp_path / "run", v)
    build_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "<b>&amp\"x" not in page and "&lt;b&gt;&amp;amp&quot;x" in page
    rows = read_tables(page).tables["cohort-table"]
    assert [r[0] for r in rows[2:]] == ["baseline", "visit 1", "visit 2"]
    assert rows[3] == ["visit 1", *expected_week12_row()[1:]]


def test_cli_report_options(tmp_path):
    out = make_run_folder(tmp_path / "run", make_visits())
    assert cli_main(["report", str(out), "--thumb-px", "200", "--include-partial-tvasi"]) == 0
    t = read_tables((out / "report.html").read_text(encoding="utf-8"))
    assert t.tables["cohort-table"][3][:4] == ["week12", "10 (10)", "0", "1"]
    assert t.tables["cohort-table"][3][11] == "10"  # T-VASI n at week 12 with the partial visit kept
    thumbs = [i for i in t.imgs if i.get("class") == "overlay"]
    for img in thumbs[:3]:
        with Image.open(io.BytesIO(base64.b64decode(img["src"].split(",", 1)[1]))) as im:
            assert max(im.size) == 200
    assert cli_main(["report", str(tmp_path / "nothing")]) == 2


def test_no_photos_csv_and_no_pros(tmp_path):
    v = make_visits().drop(columns=["dlqi", "vns", "notes"])
    out = tmp_path / "run"
    out.mkdir()
    v.to_csv(out / "visits.csv", index=False)
    build_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "photos.csv not found" in page and "No patient-reported outcome columns" in page
    assert read_tables(page).tables["cohort-table"][3] == expected_week12_row()


# --------------------------------------------------------------------------------------------- headless Chromium

needs_chromium = pytest.mark.skipif(shot.find_chromium() is None,
                                    reason="chromium not installed (apt-get install -y chromium)")


def _embedded_png(src: str) -> np.ndarray:
    m = re.match(r"data:image/png;base64,(.*)$", src, re.S)
    assert m, src[:40]
    with Image.open(io.BytesIO(base64.b64decode(m.group(1)))) as im:
        return np.asarray(im.convert("RGB"))


def _css_colour(name: str) -> tuple[int, int, int]:
    hexa = re.search(rf"--{name}:#([0-9a-f]{{6}})", stylesheet()).group(1)
    return tuple(int(hexa[i:i + 2], 16) for i in (0, 2, 4))


@needs_chromium
def test_rendered_page_shows_the_table_the_styles_and_the_figure(run_dir, tmp_path):
    dom = shot.dump_dom(run_dir / "report.html")
    t = read_tables(dom)
    rows = t.tables["cohort-table"]
    assert rows[3] == expected_week12_row()
    assert rows[2][0] == "baseline" and rows[4][:4] == ["week24", "9 (10)", "1", "1"]
    assert len([i for i in t.imgs if i.get("class") == "overlay"]) == 40

    png = shot.screenshot(run_dir / "report.html", tmp_path / "report.png", width=1400, height=2000)
    a = read_rgb(png)
    assert a.shape == (2000, 1400, 3)
    # the stylesheet is applied: the header's 3 px rule in the accent colour runs across the page, and the cohort
    # table's header cells have the header background
    accent = (np.abs(a.astype(int) - _css_colour("accent")).max(axis=2) <= 2)
    rule_rows = np.nonzero(accent.sum(axis=1) > 1000)[0]
    assert len(rule_rows) == 3 and np.ptp(rule_rows) == 2, rule_rows
    head = (np.abs(a.astype(int) - _css_colour("head")).max(axis=2) <= 2)
    assert head.sum() > 20_000
    # the cohort figure is drawn from the page's own PNG, pixel for pixel, on the first screen below the rule
    fig = _embedded_png(next(i["src"] for i in t.imgs if i.get("id") == "cohort-figure"))
    assert fig.shape[1] < 1300  # shown at its own size (no scaling by max-width)
    res = cv2.matchTemplate(a, fig, cv2.TM_SQDIFF_NORMED)
    _, _, (x, y), _ = cv2.minMaxLoc(res)
    shown = a[y:y + fig.shape[0], x:x + fig.shape[1]].astype(int)
    assert np.abs(shown - fig).max() <= 3 and y > rule_rows[-1]


@needs_chromium
def test_screenshot_script_full_page(run_dir, tmp_path):
    png = shot.screenshot(run_dir / "report.html", tmp_path / "full.png", full_page=True)
    with Image.open(png) as im:
        w, h = im.size
    assert w == 1400 and 3000 < h < shot.FULL_PAGE_HEIGHT


def test_pro_column_names_that_are_not_identifiers(tmp_path):
    v = make_visits().rename(columns={"dlqi": "DLQI total", "vns": "tas-20"})
    out = make_run_folder(tmp_path / "run", v)
    (out / "run.json").unlink()  # PRO columns found from visits.csv itself
    build_report(out)
    t = read_tables((out / "report.html").read_text(encoding="utf-8"))
    assert t.tables["pro-DLQI-total"][1][:2] == ["baseline", "10"]
    assert "pro-tas-20" in t.tables
    visits_tables = [rows for tid, rows in t.tables.items() if tid.startswith("anon")]
    p01 = visits_tables[0]  # first patient's visit table: header + 3 visits
    assert p01[0][-2:] == ["DLQI total", "tas-20"] and p01[1][-2] == "12"  # numeric PROs only


def test_patient_with_baseline_only(tmp_path):
    v = make_visits()
    extra = v[(v["patient_id"] == "P01") & (v["visit_id"] == "baseline")].assign(patient_id="P11")
    out = make_run_folder(tmp_path / "run", pd.concat([v, extra], ignore_index=True))
    build_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "no follow-up visit" in page
    rows = read_tables(page).tables["cohort-table"]
    assert rows[2][1:3] == ["11 (11)", "0"] and rows[3][1:3] == ["10 (11)", "1"]
    assert rows[3][4:] == expected_week12_row()[4:]  # P11 has no follow-up: statistics unchanged


def test_region_table_in_report_and_csv(tmp_path):
    visits = make_visits()
    out = make_run_folder(tmp_path / "run", visits)
    rows = []
    for v in visits.itertuples(index=False):
        f = "" if v.f_vasi == "" else str(float(v.f_vasi) / 3)  # face fraction = F-VASI / 3 hand units
        rows.append({"patient_id": v.patient_id, "visit_id": v.visit_id, "region": "face", "fraction": f,
                     "assessed": str(f != "")})
        rows.append({"patient_id": v.patient_id, "visit_id": v.visit_id, "region": "hands", "fraction": "0.25",
                     "assessed": "True"})
    pd.DataFrame(rows).to_csv(out / "regions.csv", index=False)
    build_report(out)
    csv = pd.read_csv(out / "cohort_regions.csv")
    assert list(csv["region"].unique()) == ["face", "hands"] and len(csv) == 6
    t = read_tables((out / "report.html").read_text(encoding="utf-8")).tables["region-table"]
    fb = np.array([1.0, 2.0, 0.5, 1.6, 0.8, 2.4, 1.2, 0.0, 1.0, 3.0]) / 3 * 100
    fw = np.array([0.4, 1.5, 0.5, 0.4, 0.9, 1.2, 0.0, 0.1, 2.1]) / 3 * 100  # P07 unscored at week 12
    d = fw - np.delete(fb, 6)
    assert t[1] == ["face", "baseline", "10", mi(fb, 1), "", "", ""]
    assert t[2] == ["face", "week12", "9", mi(fw, 1), "9", mi(d, 1), pfmt(stats.wilcoxon(d).pvalue)]
    assert t[5] == ["hands", "week12", "10", mi(np.full(10, 25.0), 1), "10", mi(np.zeros(10), 1), "\u2014"]


def test_uncertain_photo_is_marked_under_its_overlay(tmp_path):
    out = make_run_folder(tmp_path / "run", make_visits())
    ph = pd.read_csv(out / "photos.csv", dtype=str, keep_default_na=False)
    ph["uncertain_share"] = "0.01"
    ph.loc[(ph["patient_id"] == "P01") & (ph["visit_id"] == "baseline") & (ph["region"] == "hands"),
           "uncertain_share"] = "0.07"
    ph.to_csv(out / "photos.csv", index=False)
    page = build_report(out).read_text(encoding="utf-8")
    assert page.count("uncertain: 7.0% of skin near threshold") == 1
    assert page.count("uncertain segmentation: 7.0% of the measured skin") == 1  # and in the quality list
