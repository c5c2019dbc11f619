"""``vitiseg run`` on hostile and odd inputs: each photo gets a clear error or a correct result, and the batch goes on;
manifest paths never reach outside the visits folder or the run folder; no CSV cell is a spreadsheet formula."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from vitiseg.config import load_config
from vitiseg.io.images import read_mask
from vitiseg.io.pseudonym import Pseudonymiser
from vitiseg.pipeline.run import run

from helpers import SKIN_BOX, KeySegmenter, key_photo, save

CFG = load_config(overrides={"face": {"area": "skin"}, "report": False})
QUARTER = [(10, 30, 10, 110)]  # 2000 of the 8000 skin px depigmented: fraction 0.25


def _run(visits: Path, out: Path):
    return run(visits, out, CFG, segmenter=KeySegmenter(), progress=False)


def _photos(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "photos.csv", keep_default_na=False, dtype=str).set_index("path")


def _bomb(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * (w + 1) * 8)) + chunk(b"IEND", b""))


def test_hostile_and_odd_photos(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import cv2

    v = tmp_path / "visits"
    rgb, cls = key_photo(100, 120, SKIN_BOX, QUARTER)
    d = v / "P01" / "v1"
    save(d / "face.png", rgb)                                                     # the control
    (d / "neck.png").write_bytes(_bomb(50_000, 50_000))                           # 1 KB declaring 2.5 GP
    Image.new("RGB", (1, 1), (196, 142, 112)).save(d / "feet.png")               # 1 x 1
    Image.new("RGB", (10, 10_000), (196, 142, 112)).save(d / "upper_limbs.png")  # 10 x 10000
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(d / "trunk.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    frames[0].save(d / "hands.tif", save_all=True, append_images=frames[1:])      # 2 pages: the first is measured
    d = v / "P01" / "v2"
    d.mkdir(parents=True)
    cv2.imwrite(str(d / "face.png"),                                               # 16-bit colour PNG
                cv2.cvtColor(rgb.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    Image.fromarray(rgb).convert("CMYK").save(d / "hands.jpg", quality=100)      # CMYK JPEG
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(rgb, 1)))             # a phone's sideways sensor image
    exif = stored.getexif()
    exif[0x0112] = 6  # shown rotated 90 degrees clockwise: upright again
    stored.save(d / "trunk.png", exif=exif)
    save(v / "Zoë Müller" / "visite 1" / "hands_dorsal gauche.png", rgb)          # spaces and non-ASCII
    (v / "P01" / "v2" / "loop").symlink_to(v / "P01")                             # a folder inside itself
    with caplog.at_level("WARNING"):
        s = _run(v, tmp_path / "out")
    ph = _photos(tmp_path / "out")
    assert s["counts"]["photos"] == 10 and s["counts"]["ok"] == 6 and s["counts"]["failed"] == 4
    err = ph["error"]
    assert err["P01/v1/neck.png"].startswith("image too large (decompression-bomb guard)")
    assert err["P01/v1/feet.png"] == ("image too small to analyse: 1x1 px read, 1x1 at the working size (16 px at "
                                      "least on each side)")
    assert err["P01/v1/upper_limbs.png"] == ("image too small to analyse: 10x10000 px read, 1x1024 at the working "
                                             "size (16 px at least on each side)")
    assert err["P01/v1/trunk.gif"].startswith("GIF is not supported")
    for p in ("P01/v1/face.png", "P01/v1/hands.tif", "P01/v2/face.png", "P01/v2/trunk.png",
              "Zoë Müller/visite 1/hands_dorsal gauche.png"):
        assert (ph.loc[p, "status"], ph.loc[p, "skin_px"], ph.loc[p, "depigmented_px"]) == ("ok", "8000", "2000"), p
        np.testing.assert_array_equal(read_mask(tmp_path / "out" / ph.loc[p, "mask"]), cls)  # upright, exact
    cmyk = ph.loc["P01/v2/hands.jpg"]
    assert cmyk["status"] == "ok" and abs(int(cmyk["depigmented_px"]) - 2000) <= 40  # lossy CMYK JPEG
    assert ph.loc["Zoë Müller/visite 1/hands_dorsal gauche.png", ["patient_id", "visit_id", "view"]].tolist() == [
        "Zoë Müller", "visite 1", "dorsal gauche"]
    assert s["skipped_files"] == ["P01/v2/loop"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "P01/v1/hands.tif: TIFF file of 2 pages or frames: the first is measured" in warnings
    assert "P01/v2/loop: symbolic link loop (a folder inside itself); not followed" in warnings


def test_manifest_paths_outside_the_visits_folder_are_refused_and_nothing_is_written_outside_out(
        tmp_path: Path) -> None:
    """Before: both rows were processed (status ok) and the absolute one's record was written next to its target."""
    rgb, _ = key_photo(100, 120, SKIN_BOX, QUARTER)
    root = tmp_path / "study" / "visits"
    save(root / "img_001.png", rgb)
    target = tmp_path / "elsewhere" / "x.png"
    save(target, rgb)
    save(tmp_path / "study" / "secret.png", rgb)
    (root / "manifest.csv").write_text("path,patient_id,visit_id,region\nimg_001.png,A,w0,face\n"
                                       f"../secret.png,A,w0,hands\n{target},A,w0,trunk\n../../elsewhere/x.png,A,w1,face\n")
    before = sorted(p for p in tmp_path.rglob("*") if "out" not in p.parts)
    out = tmp_path / "out"
    s = _run(root, out)
    ph = _photos(out)
    assert s["counts"]["ok"] == 1 and s["counts"]["failed"] == 3
    assert ph.loc["../secret.png", "error"] == "path '../secret.png' in manifest.csv leads outside the visits folder: refused"
    assert ph.loc[str(target), "error"].startswith(f"absolute path '{target}' in manifest.csv refused")
    assert ph.loc["../../elsewhere/x.png", "status"] == "error"
    assert sorted(p for p in tmp_path.rglob("*") if "out" not in p.parts) == before  # nothing new beside the targets
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json")) == [".records/img_001.png.json",
                                                                                   "run.json"]


def test_formula_text_in_ids_and_names_is_neutralised_and_numbers_are_not(tmp_path: Path) -> None:
    """A patient folder named '=1+2' used to be a raw formula cell in every CSV."""
    v = tmp_path / "visits"
    for vid, boxes in (("@v1", [(10, 90, 10, 110)]), ("v2", [(10, 30, 10, 110)])):
        rgb, _ = key_photo(100, 120, SKIN_BOX, boxes)
        save(v / "=1+2" / vid / "face_-cmd.png", rgb)
    (v / "visits.csv").write_text("patient_id,visit_id,date,vns,=HYPERLINK(\"http://x\")\n"
                                  "=1+2,@v1,2026-01-01,-2,+SUM(A1)\n=1+2,v2,2026-02-01,-45.8,=1\n")
    out = tmp_path / "out"
    _run(v, out)
    for name in ("photos.csv", "regions.csv", "visits.csv", "longitudinal.csv"):
        t = pd.read_csv(out / name, dtype=str, keep_default_na=False)
        assert set(t["patient_id"]) == {"'=1+2"}, name
        cells = [c for c in t.to_numpy().ravel().tolist() + t.columns.tolist() if c]
        assert not [c for c in cells if c[0] in "=+@\t\r" or (c[0] == "-" and not _number(c))], name
    vis = pd.read_csv(out / "visits.csv", dtype=str, keep_default_na=False)
    assert vis["visit_id"].tolist() == ["'@v1", "v2"] and vis["vns"].tolist() == ["-2", "-45.8"]
    assert vis.columns[-1] == "'=HYPERLINK(\"http://x\")" and vis.iloc[:, -1].tolist() == ["'+SUM(A1)", "'=1"]
    lg = pd.read_csv(out / "longitudinal.csv", dtype=str, keep_default_na=False)
    assert lg["f_vasi_change_pct"].tolist() == ["0", "-75"]  # a change stays a plain negative number
    assert _photos(out).index.tolist() == ["'=1+2/@v1/face_-cmd.png", "'=1+2/v2/face_-cmd.png"]
    with sqlite3.connect(out / "vitiseg.sqlite") as con:  # SQLite is no spreadsheet: values as they are
        assert con.execute("select distinct patient_id from visits").fetchall() == [("=1+2",)]


def _number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def test_odd_visits_csv_does_not_stop_the_run(visits_dir: Path, tmp_path: Path) -> None:
    """Duplicate rows, a date that is not a date, text in a numeric column, a patient without photos."""
    (visits_dir / "visits.csv").write_text(
        "patient_id,visit_id,date,dlqi\nP01,v1,2026-01-05,12\nP01,v1,2026-01-05,12\nP01,v2,not a date,5\n"
        "P02,v1,2026-01-07,twenty\nP02,v2,2026-04-02,18\nP02,v2,2026-04-03,18\nP99,v1,2026-01-01,3\n")
    s = _run(visits_dir, tmp_path / "out")
    assert s["counts"]["ok"] == 10 and s["counts"]["failed"] == 0
    vis = pd.read_csv(tmp_path / "out" / "visits.csv", dtype=str, keep_default_na=False)
    assert vis[["patient_id", "visit_id", "date", "dlqi"]].values.tolist() == [
        ["P01", "v1", "2026-01-05", "12"], ["P01", "v2", "not a date", "5"], ["P02", "v1", "2026-01-07", "twenty"],
        ["P02", "v2", "", "18"], ["P99", "v1", "2026-01-01", "3"]]
    assert vis["f_vasi"].tolist()[:4] == ["1.5", "0.375", "3", "1.2"]  # the scores are unaffected


def test_ids_from_a_manifest_cannot_steer_output_paths(tmp_path: Path) -> None:
    """Plain runs name outputs after the input path; pseudonymised runs after the IDs, made safe as folder names."""
    rgb, _ = key_photo(100, 120, SKIN_BOX, QUARTER)
    root = tmp_path / "visits"
    save(root / "a.png", rgb)
    (root / "manifest.csv").write_text("path,patient_id,visit_id,region,view\na.png,../../../escape,/etc,face,../x\n")
    ps = Pseudonymiser("0123456789abcdef")
    for out, kw in ((tmp_path / "out", {}), (tmp_path / "out_ps", {"pseudonymiser": ps})):
        s = run(root, out, CFG, segmenter=KeySegmenter(), progress=False, **kw)
        assert s["counts"]["ok"] == 1
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()}
    assert {w for w in written if not w.startswith(("out/", "out_ps/", "visits/"))} == set()
    assert (tmp_path / "out" / "masks" / "a.png").is_file()
    pid = ps.patient("../../../escape")
    assert (tmp_path / "out_ps" / "masks" / pid / "_etc" / "face_.._x.png").is_file()
