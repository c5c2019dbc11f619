"""End-to-end tests of `vitiseg run` on a generated visits folder: exact scores, bad inputs, resume, determinism."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitiseg import pipeline
from vitiseg.cli import main as cli_main
from vitiseg.config import load_config

from conftest import SKIN_BOX, KeySegmenter, key_photo, save

CFG = load_config(overrides={"normalise": {"method": "none"}, "face": {"area": "skin"}, "report": False})


def _run(visits: Path, out: Path, cfg=CFG):
    return pipeline.run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)


def test_end_to_end_exact_scores(visits_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = _run(visits_dir, out)
    assert summary["counts"] == {"photos": 10, "ok": 10, "failed": 0, "reused": 0, "skipped_files": 0,
                                 "patients": 2, "visits": 4}
    v = pd.read_csv(out / "visits.csv").set_index(["patient_id", "visit_id"])
    assert v.loc[("P01", "v1"), "f_vasi"] == pytest.approx(1.5)
    assert v.loc[("P01", "v1"), "t_vasi"] == pytest.approx(1.5 + 1.25 + 5.2)
    assert v.loc[("P01", "v2"), "f_vasi"] == pytest.approx(0.375)
    assert v.loc[("P01", "v2"), "t_vasi"] == pytest.approx(0.375 + 0.375 + 2.6)
    assert v.loc[("P02", "v1"), "f_vasi"] == pytest.approx(3.0)
    assert v.loc[("P02", "v2"), "f_vasi"] == pytest.approx(1.2)
    assert bool(v.loc[("P01", "v1"), "t_vasi_partial"]) is True
    assert v.loc[("P01", "v1"), "missing_regions"] == "neck;upper_limbs;lower_limbs;feet"
    assert v.loc[("P01", "v1"), "dlqi"] == 12  # PRO column carried through
    lg = pd.read_csv(out / "longitudinal.csv").set_index(["patient_id", "visit_id"])
    assert lg.loc[("P01", "v2"), "f_vasi_change_pct"] == pytest.approx(-75.0)
    assert lg.loc[("P01", "v2"), ["f_vasi50", "f_vasi75", "f_vasi90"]].tolist() == [True, True, False]
    assert lg.loc[("P02", "v2"), "f_vasi_change_pct"] == pytest.approx(-60.0)
    assert lg.loc[("P02", "v2"), ["f_vasi50", "f_vasi75"]].tolist() == [True, False]
    assert math.isnan(lg.loc[("P01", "v2"), "t_vasi_change_pct"])  # partial visits: change undefined, not zero
    r = pd.read_csv(out / "regions.csv").set_index(["patient_id", "visit_id", "region"])
    assert r.loc[("P01", "v1", "trunk"), "fraction"] == pytest.approx(0.2)
    assert r.loc[("P01", "v1", "trunk"), "vasi_level"] == 25
    assert not bool(r.loc[("P01", "v1", "neck"), "assessed"])
    ph = pd.read_csv(out / "photos.csv")
    assert set(ph["status"]) == {"ok"}
    row = ph[ph["path"] == "P01/v1/hands.png"].iloc[0]
    assert (row["skin_px"], row["depigmented_px"], row["vasi_level"]) == (8000, 2000, 25)
    mask = np.asarray(Image.open(out / row["mask"]))
    _, expected = key_photo(100, 120, SKIN_BOX, [(10, 30, 10, 110)])
    np.testing.assert_array_equal(mask, expected)
    assert (out / row["overlay"]).is_file()
    assert Image.open(out / row["overlay"]).getexif() == {}
    with sqlite3.connect(out / "vitiseg.sqlite") as con:
        n = con.execute("select count(*) from photos").fetchone()[0]
        fv = con.execute("select f_vasi from visits where patient_id='P02' and visit_id='v1'").fetchone()[0]
    assert (n, fv) == (10, pytest.approx(3.0))
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["model"]["sha256"] == "0" * 64
    assert run_json["config"]["face"]["area"] == "skin"
    assert "numpy" in run_json["versions"] and run_json["config_fingerprint"]


def test_bad_inputs_do_not_stop_the_batch(visits_dir: Path, tmp_path: Path) -> None:
    d = visits_dir / "P01" / "v1"
    (d / "feet.jpg").write_bytes(b"")                                   # empty
    good = (d / "face.png").read_bytes()
    (d / "lower_limbs.png").write_bytes(good[: len(good) // 2])          # truncated
    (d / "neck.jpg").write_bytes(b"this is not an image at all" * 10)   # not an image
    (d / "elbowpit.png").write_bytes(good)                              # mislabelled region
    Image.new("L", (20000, 20000)).save(d / "upper_limbs.png")          # 400 MP: decompression-bomb guard
    (d / "notes.txt").write_text("not a photo")                         # ignored, listed as skipped
    out = tmp_path / "out"
    cfg = load_config(overrides={"normalise": {"method": "none"}, "face": {"area": "skin"}, "report": False,
                                 "io": {"max_pixels": 50_000_000}})
    summary = _run(visits_dir, out, cfg)
    ph = pd.read_csv(out / "photos.csv", keep_default_na=False).set_index("path")
    assert summary["counts"]["failed"] == 5 and summary["counts"]["ok"] == 10
    assert "empty file" in ph.loc["P01/v1/feet.jpg", "error"]
    assert "truncated" in ph.loc["P01/v1/lower_limbs.png", "error"].lower()
    assert "not a recognised image" in ph.loc["P01/v1/neck.jpg", "error"]
    assert "unknown body region" in ph.loc["P01/v1/elbowpit.png", "error"]
    assert "too large" in ph.loc["P01/v1/upper_limbs.png", "error"]
    assert summary["skipped_files"] == ["P01/v1/notes.txt"]
    fails = pd.read_csv(out / "failures.csv")
    assert len(fails) == 5
    # the failed photos do not count as assessed regions
    v = pd.read_csv(out / "visits.csv").set_index(["patient_id", "visit_id"])
    assert v.loc[("P01", "v1"), "t_vasi"] == pytest.approx(7.95)
    assert v.loc[("P01", "v1"), "n_failed"] == 5


def test_cli_exit_codes_and_unknown_config_key(visits_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("normalise:\n  methd: none\n")
    assert cli_main(["run", str(visits_dir), "--out", str(tmp_path / "o1"), "--config", str(bad)]) == 2
    args = ["run", str(visits_dir), "--out", str(tmp_path / "o2"), "--model", "classical", "--normalise", "none",
            "--face-area", "skin", "--no-report", "--no-progress"]
    # the classical baseline cannot find skin in a photo that is 100 % depigmented (no pigmented seed): that photo
    # is an explicit per-photo error and the exit code says so
    assert cli_main(args) == 1
    ph = pd.read_csv(tmp_path / "o2" / "photos.csv", keep_default_na=False).set_index("path")
    assert ph.loc["P02/v1/face.png", "error"] == "no skin found in the photo (nothing to measure)"
    assert (ph["status"] == "ok").sum() == 9
    v = pd.read_csv(tmp_path / "o2" / "visits.csv").set_index(["patient_id", "visit_id"])
    # the classical baseline on clean key photos: within 0.05 of the exact F-VASI
    assert v.loc[("P01", "v1"), "f_vasi"] == pytest.approx(1.5, abs=0.05)
    assert v.loc[("P01", "v2"), "t_vasi"] == pytest.approx(3.35, abs=0.1)
    (visits_dir / "P02" / "v1" / "face.png").unlink()
    assert cli_main(args) == 0


def test_resume_reuses_finished_photos_and_is_byte_identical(visits_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}
    real = pipeline.process_photo

    def interrupted(item, ctx, views=frozenset()):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # killed in the middle of the batch
        return real(item, ctx, views)

    monkeypatch.setattr(pipeline, "process_photo", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(visits_dir, out)
    assert not (out / "photos.csv").exists()
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    monkeypatch.setattr(pipeline, "process_photo", real)
    s2 = _run(visits_dir, out)
    assert s2["counts"]["reused"] == 3 and s2["counts"]["ok"] == 10
    first = {p: (out / p).read_bytes() for p in ("photos.csv", "visits.csv", "regions.csv", "longitudinal.csv")}
    s3 = _run(visits_dir, out)
    assert s3["counts"]["reused"] == 10
    for p, b in first.items():
        assert (out / p).read_bytes() == b, p
    # a changed photo is redone, the others are reused
    rgb, _ = key_photo(100, 120, SKIN_BOX, [])
    save(visits_dir / "P02" / "v2" / "face.png", rgb)
    s4 = _run(visits_dir, out)
    assert s4["counts"]["reused"] == 9
    v = pd.read_csv(out / "visits.csv").set_index(["patient_id", "visit_id"])
    assert v.loc[("P02", "v2"), "f_vasi"] == 0.0
    # a different config is never mixed with old results
    cfg2 = load_config(overrides={"normalise": {"method": "grey_world"}, "face": {"area": "skin"}, "report": False})
    assert _run(visits_dir, out, cfg2)["counts"]["reused"] == 0


def test_visit_order_without_visits_csv_is_natural_sort(tmp_path: Path) -> None:
    root = tmp_path / "v"
    for vid, boxes in [("week12", [(10, 20, 10, 110)]), ("week4", [(10, 50, 10, 110)]), ("week0", [(10, 90, 10, 110)])]:
        rgb, _ = key_photo(100, 120, SKIN_BOX, boxes)
        save(root / "A" / vid / "face_front.png", rgb)
    _run(root, tmp_path / "out")
    lg = pd.read_csv(tmp_path / "out" / "longitudinal.csv")
    assert lg["visit_id"].tolist() == ["week0", "week4", "week12"]
    assert lg["baseline_visit_id"].unique().tolist() == ["week0"]
    assert lg["f_vasi_change_pct"].tolist() == pytest.approx([0.0, -50.0, -87.5])


def test_parallel_workers_give_identical_tables(visits_dir: Path, tmp_path: Path) -> None:
    (visits_dir / "P02" / "v1" / "face.png").unlink()  # 100 % white: the classical baseline cannot score it
    base = ["run", str(visits_dir), "--model", "classical", "--normalise", "none", "--face-area", "skin",
            "--no-report", "--no-progress"]
    assert cli_main(base + ["--out", str(tmp_path / "a")]) == 0
    assert cli_main(base + ["--out", str(tmp_path / "b"), "--workers", "2"]) == 0
    for name in ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for m in (tmp_path / "a" / "masks").rglob("*.png"):
        assert m.read_bytes() == (tmp_path / "b" / m.relative_to(tmp_path / "a")).read_bytes()
    assert json.loads((tmp_path / "b" / "run.json").read_text())["executor"]["workers"] == 2


def test_ray_executor_matches_local(visits_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="optional extra vitiseg[distributed]; installed by .ci/run")
    (visits_dir / "P02" / "v1" / "face.png").unlink()
    base = ["run", str(visits_dir), "--model", "classical", "--normalise", "none", "--face-area", "skin",
            "--no-report", "--no-progress"]
    assert cli_main(base + ["--out", str(tmp_path / "a")]) == 0
    assert cli_main(base + ["--out", str(tmp_path / "r"), "--executor", "ray", "--workers", "2"]) == 0
    for name in ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "r" / name).read_bytes(), name


def test_face_photos_use_the_truev_area(tmp_path: Path) -> None:
    """A real face (FASSEG, read at test time) gets a facial area; a face photo without a face is an explicit error."""
    from conftest import SHARED_DATA

    src = SHARED_DATA / "skin" / "fasseg_face_skin" / "images" / "f03_001.jpg"
    if not src.is_file():
        pytest.skip("FASSEG faces not available")
    root = tmp_path / "v"
    (root / "P1" / "v1").mkdir(parents=True)
    (root / "P1" / "v1" / "face_front.jpg").write_bytes(src.read_bytes())
    rgb, _ = key_photo(100, 120, SKIN_BOX, [])
    save(root / "P1" / "v2" / "face_front.png", rgb)  # skin but no face
    cfg = load_config(overrides={"report": False})
    s = pipeline.run(root, tmp_path / "out", cfg, segmenter=pipeline.load_segmenter(cfg.segmentation.model_copy(
        update={"model": "classical"})), progress=False)
    ph = pd.read_csv(tmp_path / "out" / "photos.csv", keep_default_na=False).set_index("path")
    ok = ph.loc["P1/v1/face_front.jpg"]
    assert ok["status"] == "ok" and ok["face_area_status"] == "ok"
    area = np.asarray(Image.open(tmp_path / "out" / ok["face_area"])) > 0
    mask = np.asarray(Image.open(tmp_path / "out" / ok["mask"]))
    assert int(ok["skin_px"]) == int(((mask > 0) & area).sum()) < int((mask > 0).sum())
    bad = ph.loc["P1/v2/face_front.png"]
    assert bad["status"] == "error" and bad["face_area_status"] == "no_face" and "facial area" in bad["error"]
    assert s["counts"]["failed"] == 1


def test_manifest_csv_replaces_the_folder_convention(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    rgb, _ = key_photo(100, 120, SKIN_BOX, [(10, 50, 10, 110)])
    save(root / "img_001.png", rgb)
    rgb, _ = key_photo(100, 120, SKIN_BOX, [(10, 30, 10, 110)])
    save(root / "img_002.png", rgb)
    save(root / "img_003.png", rgb)
    (root / "manifest.csv").write_text("path,patient_id,visit_id,region,view\nimg_001.png,A,w0,face,front\n"
                                       "img_002.png,A,w12,arm,\nimg_003.png,A,w12,elbowpit,\n")
    _run(root, tmp_path / "out")
    ph = pd.read_csv(tmp_path / "out" / "photos.csv", keep_default_na=False).set_index("path")
    assert ph.loc["img_001.png", ["patient_id", "visit_id", "region", "view", "status"]].tolist() == [
        "A", "w0", "face", "front", "ok"]
    assert ph.loc["img_002.png", "region"] == "upper_limbs"
    assert "unknown body region 'elbowpit'" in ph.loc["img_003.png", "error"]
    v = pd.read_csv(tmp_path / "out" / "visits.csv").set_index("visit_id")
    assert v.loc["w0", "f_vasi"] == pytest.approx(1.5)


def test_segment_command_writes_full_resolution_masks(tmp_path: Path) -> None:
    src = tmp_path / "imgs"
    rgb, truth = key_photo(300, 400, (30, 270, 40, 360), [(100, 200, 100, 200)])
    save(src / "a.png", rgb)
    (src / "broken.jpg").write_bytes(b"nope")
    out = tmp_path / "masks"
    rc = cli_main(["segment", str(src), "--out", str(out), "--model", "classical", "--normalise", "none"])
    assert rc == 1  # the broken file is reported, the good one is done
    m = np.asarray(Image.open(out / "a.png"))
    assert m.shape == (300, 400)
    dice = 2 * ((m == 2) & (truth == 2)).sum() / ((m == 2).sum() + (truth == 2).sum())
    assert dice > 0.95
    assert "broken.jpg" in (out / "failures.csv").read_text()
    mtime = (out / "a.png").stat().st_mtime_ns
    cli_main(["segment", str(src), "--out", str(out), "--model", "classical", "--normalise", "none"])
    assert (out / "a.png").stat().st_mtime_ns == mtime  # resumed, not redone


class _AmbiguousKeySegmenter(KeySegmenter):
    """Key segmenter that calls every depigmented pixel ambiguous: uncertain_share must equal the fraction."""

    def predict_with_ambiguity(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.predict(rgb)
        return c, c == 2


def test_uncertain_share_of_segmenters_with_an_ambiguity_map(visits_dir: Path, tmp_path: Path) -> None:
    pipeline.run(visits_dir, tmp_path / "amb", CFG, segmenter=_AmbiguousKeySegmenter(), progress=False)
    ph = pd.read_csv(tmp_path / "amb" / "photos.csv")
    ok = ph[ph["status"] == "ok"]
    assert len(ok) and np.allclose(ok["uncertain_share"], ok["fraction"], atol=1e-6)
    _run(visits_dir, tmp_path / "plain")
    plain = pd.read_csv(tmp_path / "plain" / "photos.csv")
    assert plain["uncertain_share"].isna().all()  # no ambiguity map (classical, test doubles): left empty
