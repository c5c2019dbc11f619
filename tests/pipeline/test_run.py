"""End-to-end tests of ``vitiseg run`` on a generated visits folder: exact scores, bad inputs, resume, determinism."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitiseg.config import load_config
from vitiseg.io.images import read_mask, read_rgb
from vitiseg.pipeline import executors
from vitiseg.pipeline.run import run
from vitiseg.segmentation.load import load_segmenter

from helpers import DEPIG, FASSEG, SKIN, SKIN_BOX, BG, KeySegmenter, key_photo, save

CFG = load_config(overrides={"face": {"area": "skin"}, "report": False})


def _run(visits: Path, out: Path, cfg=CFG, segmenter=None):
    return run(visits, out, cfg, segmenter=segmenter or KeySegmenter(), progress=False)


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
    _, expected = key_photo(100, 120, SKIN_BOX, [(10, 30, 10, 110)])
    np.testing.assert_array_equal(read_mask(out / row["mask"]), expected)
    # the overlay: depigmented skin tinted magenta, healthy skin as taken, the rest dimmed (JPEG, so within a few
    # levels), and no metadata
    with Image.open(out / row["overlay"]) as im:
        assert im.getexif() == {}
    ov = read_rgb(out / row["overlay"]).astype(float)
    assert ov.shape == (100, 120, 3)
    for block, want in (((slice(14, 26), slice(20, 100)), 0.55 * np.array(DEPIG) + 0.45 * np.array([255, 0, 255])),
                        ((slice(40, 80), slice(20, 100)), np.array(SKIN)),
                        ((slice(0, 5), slice(0, 120)), 0.55 * np.array(BG))):
        assert np.abs(ov[block].mean((0, 1)) - want).max() < 4, (block, ov[block].mean((0, 1)), want)
    with sqlite3.connect(out / "vitiseg.sqlite") as con:
        n = con.execute("select count(*) from photos").fetchone()[0]
        fv = con.execute("select f_vasi from visits where patient_id='P02' and visit_id='v1'").fetchone()[0]
    assert (n, fv) == (10, pytest.approx(3.0))
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["model"]["sha256"] == "0" * 64
    assert run_json["config"]["face"]["area"] == "skin"
    assert run_json["versions"]["numpy"] == np.__version__ and run_json["config_fingerprint"] == CFG.fingerprint()


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
    cfg = load_config(overrides={"face": {"area": "skin"}, "report": False, "io": {"max_pixels": 50_000_000}})
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
    assert sorted(fails["path"]) == ["P01/v1/elbowpit.png", "P01/v1/feet.jpg", "P01/v1/lower_limbs.png",
                                     "P01/v1/neck.jpg", "P01/v1/upper_limbs.png"]
    # the failed photos do not count as assessed regions
    v = pd.read_csv(out / "visits.csv").set_index(["patient_id", "visit_id"])
    assert v.loc[("P01", "v1"), "t_vasi"] == pytest.approx(7.95)
    assert v.loc[("P01", "v1"), "n_failed"] == 5


def test_resume_reuses_finished_photos_and_is_byte_identical(visits_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    calls = {"n": 0}
    real = executors.process_photo

    def interrupted(item, ctx, views=frozenset()):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # killed in the middle of the batch
        return real(item, ctx, views)

    monkeypatch.setattr(executors, "process_photo", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _run(visits_dir, out)
    assert calls["n"] == 4
    assert not (out / "photos.csv").exists()
    assert not list(out.rglob("*.tmp"))  # no half-written file left behind
    monkeypatch.setattr(executors, "process_photo", real)
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
    cfg2 = load_config(overrides={"io": {"work_long_side": 512}, "face": {"area": "skin"}, "report": False})
    assert _run(visits_dir, out, cfg2)["counts"]["reused"] == 0
    # nor is another model (here: the same test double under another identity)
    other = KeySegmenter()
    other.identity = {**KeySegmenter.identity, "sha256": "1" * 64}
    assert _run(visits_dir, out, cfg2, other)["counts"]["reused"] == 0


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


def test_same_stem_with_two_extensions_is_an_error_for_both(visits_dir: Path, tmp_path: Path) -> None:
    (visits_dir / "P01" / "v1" / "face.jpg").write_bytes((visits_dir / "P01" / "v1" / "face.png").read_bytes())
    _run(visits_dir, tmp_path / "out")
    ph = pd.read_csv(tmp_path / "out" / "photos.csv", keep_default_na=False).set_index("path")
    for p in ("P01/v1/face.jpg", "P01/v1/face.png"):
        assert ph.loc[p, "status"] == "error" and "same name with a different extension" in ph.loc[p, "error"]


class AmbiguousKeySegmenter(KeySegmenter):
    """Key segmenter that calls every depigmented pixel ambiguous: uncertain_share must equal the fraction."""

    def predict_with_ambiguity(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        c = self.predict(rgb)
        return c, c == 2


def test_uncertain_share_of_segmenters_with_an_ambiguity_map(visits_dir: Path, tmp_path: Path) -> None:
    _run(visits_dir, tmp_path / "amb", segmenter=AmbiguousKeySegmenter())
    ph = pd.read_csv(tmp_path / "amb" / "photos.csv").set_index("path")
    assert ph.loc["P01/v1/hands.png", "uncertain_share"] == 0.25 and ph.loc["P02/v1/hands.png", "uncertain_share"] == 0
    assert np.allclose(ph["uncertain_share"], ph["fraction"], atol=1e-6)
    _run(visits_dir, tmp_path / "plain")
    plain = pd.read_csv(tmp_path / "plain" / "photos.csv")
    assert plain["uncertain_share"].isna().all()  # no ambiguity map (classical, test doubles): left empty


def test_face_photos_use_the_truev_area(tmp_path: Path) -> None:
    """A real face (FASSEG, read at test time) gets a facial area; a face photo without a face is an explicit error."""
    src = FASSEG / "images" / "f03_001.jpg"
    if not src.is_file():
        pytest.skip("FASSEG faces not available")
    root = tmp_path / "v"
    (root / "P1" / "v1").mkdir(parents=True)
    (root / "P1" / "v1" / "face_front.jpg").write_bytes(src.read_bytes())
    rgb, _ = key_photo(100, 120, SKIN_BOX, [])
    save(root / "P1" / "v2" / "face_front.png", rgb)  # skin but no face
    cfg = load_config(overrides={"report": False, "segmentation": {"model": "classical"}})
    s = run(root, tmp_path / "out", cfg, segmenter=load_segmenter(cfg.segmentation, cfg.normalise), progress=False)
    ph = pd.read_csv(tmp_path / "out" / "photos.csv", keep_default_na=False).set_index("path")
    ok = ph.loc["P1/v1/face_front.jpg"]
    assert ok["status"] == "ok" and ok["face_area_status"] == "ok"
    area = read_mask(tmp_path / "out" / ok["face_area"]) > 0
    mask = read_mask(tmp_path / "out" / ok["mask"])
    assert int(ok["skin_px"]) == int(((mask > 0) & area).sum()) < int((mask > 0).sum())
    assert int(ok["depigmented_px"]) == int(((mask == 2) & area).sum())
    bad = ph.loc["P1/v2/face_front.png"]
    assert bad["status"] == "error" and bad["face_area_status"] == "no_face" and "facial area" in bad["error"]
    assert s["counts"]["failed"] == 1
