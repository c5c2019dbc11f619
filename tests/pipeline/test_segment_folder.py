"""``vitiseg segment``: full-resolution class masks for a flat folder, failures listed, resumable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from vitiseg.cli import main as cli_main
from vitiseg.io.images import read_mask

from helpers import key_photo, save


def test_segment_command_writes_full_resolution_masks(tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    rgb, truth = key_photo(300, 400, (30, 270, 40, 360), [(100, 200, 100, 200)])
    save(src / "a.png", rgb)
    big, big_truth = key_photo(1200, 1600, (120, 1080, 160, 1440), [(400, 800, 400, 800)])
    save(src / "big.png", big)  # larger than the working size (1024): segmented there, mask back at 1200 x 1600
    (src / "broken.jpg").write_bytes(b"nope")
    (src / "notes.txt").write_text("not an image")
    out = tmp_path / "masks"
    args = ["segment", str(src), "--out", str(out), "--model", "classical", "--normalise", "none"]
    assert cli_main(args) == 1  # the broken file is reported, the good ones are done
    for name, t in (("a.png", truth), ("big.png", big_truth)):
        m = read_mask(out / name)
        assert m.shape == t.shape
        dice = 2 * ((m == 2) & (t == 2)).sum() / ((m == 2).sum() + (t == 2).sum())
        assert dice > 0.97, name
    fails = pd.read_csv(out / "failures.csv")
    assert fails["path"].tolist() == ["broken.jpg"] and "not a recognised image" in fails["error"][0]
    meta = json.loads((out / "segment.json").read_text())
    assert (meta["images"], meta["failed"], meta["model"]["kind"]) == (3, 1, "classical")
    assert meta["config"]["normalise"]["method"] == "none"
    mtime = (out / "a.png").stat().st_mtime_ns
    assert cli_main(args) == 1
    assert (out / "a.png").stat().st_mtime_ns == mtime  # resumed, not redone
    first = read_mask(out / "a.png")
    (out / "a.png").write_bytes(b"")  # --overwrite redoes it
    (src / "broken.jpg").unlink()
    assert cli_main(args + ["--overwrite"]) == 0
    np.testing.assert_array_equal(read_mask(out / "a.png"), first)
    assert pd.read_csv(out / "failures.csv").empty


def test_segment_command_user_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert cli_main(["segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--model", "classical"]) == 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("io:\n  work_long_sid: 5\n")
    assert cli_main(["segment", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), "--config", str(bad)]) == 2


def test_segment_names_the_files_it_skips(tmp_path: Path, caplog) -> None:
    src = tmp_path / "imgs"
    rgb, _ = key_photo(60, 80, (10, 50, 10, 70), [])
    save(src / "a.png", rgb)
    (src / "notes.txt").write_text("x")
    (src / "patient1").mkdir()  # a visits-style sub-folder: segment reads a flat folder
    out = src / "masks"  # inside the image folder: skipped like any sub-folder, not counted
    with caplog.at_level("WARNING"):
        assert cli_main(["segment", str(src), "--out", str(out), "--model", "classical", "--no-progress"]) == 0
    assert "skipped 2 of 3 entries" in caplog.text and "notes.txt, patient1/" in caplog.text
    assert json.loads((out / "segment.json").read_text())["skipped"] == ["notes.txt", "patient1/"]
    assert cli_main(["segment", str(src), "--out", str(src), "--model", "classical"]) == 2  # masks among images
