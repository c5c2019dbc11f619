"""What leaves a run: no metadata in any output image, every ID and file name escaped in the report, a pseudonymised
run holds no patient ID anywhere (names, bytes, SQLite, log), and a run needs no network."""

from __future__ import annotations

import base64
import html
import io
import socket
import sqlite3
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageCms

from vitiseg.cli import main as cli_main
from vitiseg.config import load_config
from vitiseg.pipeline import run as run_mod
from vitiseg.pipeline.run import run

from helpers import FASSEG, SKIN_BOX, KeySegmenter, key_photo, save

NAME = "Jane Doe"
QUARTER = [(10, 30, 10, 110)]


class Page(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _page(path: Path) -> Page:
    p = Page()
    p.feed(path.read_text(encoding="utf-8"))
    return p


def _icc_named(name: str) -> bytes:
    """LittleCMS's sRGB profile with its description text replaced by ``name`` (4 characters)."""
    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    i = bytes(icc).index("sRGB".encode("utf-16-be"))
    icc[i:i + 8] = name.encode("utf-16-be")
    return bytes(icc)


def _photo_with_metadata(path: Path, rgb: np.ndarray) -> None:
    """A JPEG carrying what phones and cameras write: EXIF with the patient's name, GPS position, maker note, a
    comment and an ICC profile with a name in it."""
    img = Image.fromarray(rgb)
    exif = img.getexif()
    exif[0x013B] = NAME  # Artist
    exif[0x010E] = f"{NAME}, left cheek"  # ImageDescription
    exif[0x927C] = f"maker note {NAME}".encode()  # MakerNote
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 12.0), 3: "W", 4: (0.0, 7.0, 40.0)})  # GPS
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, exif=exif, comment=f"patient {NAME}".encode(), icc_profile=_icc_named("Jane"), quality=100)


def _images_of(out: Path) -> list[tuple[str, bytes]]:
    """Every image a run writes: files under OUT and the images embedded in report.html."""
    found = [(p.relative_to(out).as_posix(), p.read_bytes()) for p in sorted(out.rglob("*"))
             if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    for i, (_, attrs) in enumerate(t for t in _page(out / "report.html").tags if t[0] == "img"):
        src = attrs.get("src") or ""
        if src.startswith("data:"):
            found.append((f"report.html img {i}", base64.b64decode(src.split(",", 1)[1])))
    return found


ALLOWED_INFO = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "progressive", "progression"}


def test_output_images_carry_no_metadata(tmp_path: Path) -> None:
    rgb, _ = key_photo(100, 120, SKIN_BOX, QUARTER)
    v = tmp_path / "visits"
    _photo_with_metadata(v / NAME / "v1" / "face.jpg", rgb)
    png = Image.fromarray(rgb)
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", NAME)
    info.add_itxt("Comment", f"{NAME} hands", lang="en")
    (v / NAME / "v2").mkdir(parents=True)
    png.save(v / NAME / "v2" / "face.png", pnginfo=info, icc_profile=_icc_named("Jane"))
    with Image.open(v / NAME / "v1" / "face.jpg") as im:  # the inputs do carry it all
        assert im.getexif()[0x013B] == NAME and "icc_profile" in im.info and NAME.encode() in im.info["comment"]
        assert im.getexif().get_ifd(0x8825)[1] == "N"
    out = tmp_path / "out"
    cfg = load_config(overrides={"face": {"area": "skin"}})
    assert run(v, out, cfg, segmenter=KeySegmenter(), progress=False)["counts"]["ok"] == 2
    images = _images_of(out)
    kinds = {name.split("/")[0] if "/" in name else name.split(" img")[0] for name, _ in images}
    assert kinds == {"masks", "overlays", "changes", "report.html"} and len(images) >= 9  # changes: follow-up tracking
    for name, data in images:
        with Image.open(io.BytesIO(data)) as im:
            assert set(im.info) <= ALLOWED_INFO, (name, set(im.info) - ALLOWED_INFO)
            assert dict(im.getexif()) == {}, name
            assert not getattr(im, "text", {}), name
        for needle in (b"Jane", "Jane".encode("utf-16-be"), b"face.jpg", b"face.png"):
            assert needle not in data, (name, needle)


HOSTILE = {
    "patient": "<script>alert(1)</script>",
    "visit": "\"><img src=x onerror=alert(2)>",
    "pro": "<script>alert(3)</script>",
    "column": "<b onmouseover=alert(4)>dlqi</b>",
    "file": "face_\"><img src=x onerror=alert(5)>.png",
    "bad_file": "<svg onload=alert(6)>.png",
}


def test_html_in_ids_values_and_file_names_is_escaped_in_the_report(tmp_path: Path) -> None:
    rgb, _ = key_photo(100, 120, SKIN_BOX, QUARTER)
    root = tmp_path / "visits"
    save(root / HOSTILE["file"], rgb)
    save(root / HOSTILE["bad_file"], rgb)
    save(root / "b.png", rgb)
    pd.DataFrame({"path": [HOSTILE["file"], HOSTILE["bad_file"], "b.png"],
                  "patient_id": [HOSTILE["patient"]] * 3, "visit_id": [HOSTILE["visit"], HOSTILE["visit"], "w12"],
                  "region": ["face", "elbowpit", "face"]}).to_csv(root / "manifest.csv", index=False)
    pd.DataFrame({"patient_id": [HOSTILE["patient"]] * 2, "visit_id": [HOSTILE["visit"], "w12"],
                  "date": ["2026-01-01", "2026-03-01"], HOSTILE["column"]: ["12", HOSTILE["pro"]]}
                 ).to_csv(root / "visits.csv", index=False)
    out = tmp_path / "out"
    s = run(root, out, load_config(overrides={"face": {"area": "skin"}}), segmenter=KeySegmenter(), progress=False)
    assert s["counts"]["ok"] == 2 and s["counts"]["failed"] == 1 and "report_error" not in s
    page = (out / "report.html").read_text(encoding="utf-8")
    parsed = _page(out / "report.html")
    assert not [t for t, _ in parsed.tags if t in ("script", "svg", "iframe", "object")]
    assert not [(t, a) for t, attrs in parsed.tags for a in attrs if a.startswith("on")]
    assert all((a.get("src") or "").startswith("data:") for t, a in parsed.tags if t == "img")
    for key, text in HOSTILE.items():
        assert text not in page, key
    for key in ("patient", "visit", "pro", "column"):
        assert html.escape(HOSTILE[key], quote=True) in page, key
    assert html.escape(HOSTILE["bad_file"], quote=True) in page  # the failed photo, named in the quality list


def _all_bytes(folder: Path) -> list[tuple[str, bytes]]:
    return [(p.relative_to(folder).as_posix(), p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()]


def test_a_pseudonymised_run_holds_no_patient_id_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(run_mod, "load_segmenter_checked", lambda *a, **k: KeySegmenter())
    v = tmp_path / "visits"
    for pid in (NAME, "Smith-1947"):
        for vid, boxes in (("v1", [(10, 90, 10, 110)]), ("v2", QUARTER)):
            rgb, _ = key_photo(100, 120, SKIN_BOX, boxes)
            save(v / pid / vid / "face.png", rgb)
            save(v / pid / vid / "hands.png", rgb)
    save(v / NAME / "v1" / "elbowpit.png", rgb)  # an error row
    save(v / NAME / "stray.png", rgb)  # misplaced: no visit
    (v / NAME / "v1" / "notes.txt").write_text("ignored file")
    (v / "visits.csv").write_text(f"patient_id,visit_id,date,dlqi\n{NAME},v1,2026-01-01,12\n{NAME},v2,soon,8\n"
                                  "Smith-1947,v1,2026-01-02,5\nSmith-1947,v2,2026-03-02,four\n")
    key = tmp_path / "key.txt"
    key.write_text("correct horse battery staple\n")
    out, mapping = tmp_path / "out", tmp_path / "private" / "map.csv"
    args = ["run", str(v), "--out", str(out), "--face-area", "skin", "--no-progress", "--pseudonymise", f"@{key}"]
    with caplog.at_level("INFO"):
        assert cli_main([*args, "--pseudonym-map", str(mapping)]) == 1  # the two misplaced photos fail
    needles = [s.encode(e) for s in (NAME, "Jane", "Smith", "1947") for e in ("utf-8", "utf-16-le", "utf-16-be")]
    files = _all_bytes(out)
    assert {"photos.csv", "visits.csv", "vitiseg.sqlite", "report.html", "run.log", "run.json", "cohort.csv"} <= {
        n for n, _ in files}
    assert len([n for n, _ in files if n.startswith("masks/")]) == 8
    for name, data in files:
        assert not any(n.decode("utf-8", "ignore") in name for n in needles[:4:3]), name
        assert not [n for n in needles if n in data], name
    assert not [r for r in caplog.records if "Jane" in r.getMessage() or "Smith" in r.getMessage()]
    m = pd.read_csv(mapping, dtype=str, keep_default_na=False)
    pj = m.loc[(m["kind"] == "patient") & (m["original"] == NAME), "pseudonym"].item()
    assert pj.startswith("ps_") and len(pj) == 15
    with sqlite3.connect(out / "vitiseg.sqlite") as con:
        assert sorted(r[0] for r in con.execute("select distinct patient_id from visits")) == sorted(
            m.loc[m["kind"] == "patient", "pseudonym"])
    assert f"{NAME}/v1/elbowpit.png" in set(m["original"]) and f"{pj}/v1/elbowpit.png" in set(m["pseudonym"])
    photos = pd.read_csv(out / "photos.csv", dtype=str, keep_default_na=False)
    assert set(photos["patient_id"]) == {pj, m["pseudonym"][1], ""}
    # the same key resumes; without it, or with another key, the folder is refused
    assert cli_main(args) == 1 and '"reused": 8' in (out / "run.json").read_text()
    caplog.clear()
    assert cli_main(args[:-2]) == 2
    assert caplog.records[-1].getMessage() == (
        f"{out} holds results of a run that was pseudonymised; use a new --out so that one folder never mixes "
        "identifying and pseudonymised names")
    assert cli_main([*args[:-1], "another key of 16+ chars"]) == 2
    assert "pseudonymised with another key" in caplog.records[-1].getMessage()
    assert cli_main([*args[:-1], "short"]) == 2
    assert caplog.records[-1].getMessage().startswith("pseudonymisation key too short (5 characters; at least 16)")
    assert cli_main([*args, "--pseudonym-map", str(out / "map.csv")]) == 2  # the map never goes with the results
    assert not (out / "map.csv").exists()


def test_a_run_needs_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped U-Net, the TRuE-V facial area (MediaPipe) on a real face when the data is present, and the report,
    with every socket refused."""
    v = tmp_path / "visits"
    rgb, _ = key_photo(100, 120, SKIN_BOX, QUARTER)
    save(v / "P1" / "v1" / "hands.png", rgb)
    face = FASSEG / "images" / "f03_001.jpg"
    if face.is_file():
        (v / "P1" / "v1" / "face_front.jpg").write_bytes(face.read_bytes())
    attempts: list[tuple] = []

    def refuse(*a, **k):
        attempts.append(a)
        raise OSError("network blocked by the test")

    class NoSocket(socket.socket):
        def __init__(self, *a, **k) -> None:
            refuse(*a)

    for name in ("socket", "create_connection", "getaddrinfo", "gethostbyname"):
        monkeypatch.setattr(socket, name, NoSocket if name == "socket" else refuse)
    out = tmp_path / "out"
    args = ["run", str(v), "--out", str(out), "--no-progress"] + ([] if face.is_file() else ["--face-area", "skin"])
    assert cli_main(args) == 0
    assert attempts == []
    photos = pd.read_csv(out / "photos.csv", dtype=str, keep_default_na=False)
    assert set(photos["status"]) == {"ok"} and (out / "report.html").stat().st_size > 10_000
    assert '"name": "vitiseg-unet-lite0-v2"' in (out / "run.json").read_text()
