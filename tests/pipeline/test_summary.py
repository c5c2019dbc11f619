"""The lines ``vitiseg run`` ends with: counts, median F-VASI / T-VASI per visit, responders, where the files are."""

from __future__ import annotations

from pathlib import Path

from vitiseg.cli import main as cli_main


def test_closing_summary_states_the_cohort_headline_numbers(visits_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    # the classical baseline on the key photos; P02/v1/face.png (100 % depigmented) fails: no pigmented skin seed
    rc = cli_main(["run", str(visits_dir), "--out", str(out), "--model", "classical", "--normalise", "none",
                   "--face-area", "skin", "--no-progress"])
    err = capsys.readouterr().err.splitlines()
    assert rc == 1
    end = err[err.index(next(ln for ln in err if ln.startswith("2 patients"))):]
    assert end[0] == "2 patients, 4 visits, 10 photos: 9 measured, 1 failed"
    assert end[1] == "median F-VASI per visit: v1 1.50, v2 0.78"  # v2: P01 0.375 and P02 1.2 (v1 failed)
    assert end[2].startswith("median T-VASI: not reported, all 4 visits are partial")  # no neck, limbs, feet
    assert end[3] == ("responders at v2: F-VASI50 1/1 (100 %), F-VASI75 1/1 (100 %), F-VASI90 0/1 (0 %), "
                      "T-VASI50 \u2014")
    assert end[4] == f"report: {out.resolve() / 'report.html'}"
    assert end[5].startswith("tables: ")
    assert end[6] == f"WARNING: 1 photo(s) failed: see {out / 'failures.csv'}"
