#!/usr/bin/env python
"""Hostile and odd inputs through ``vitiseg run``, one case at a time; prints a Markdown table of the outcomes.

Runs against whichever vitiseg is importable, so the same script gives the "before" column (a checkout of the
previous main on PYTHONPATH) and the "after" column (this branch):

    PYTHONPATH=/path/to/checkout python research/2026-12-01-hostile-inputs/cases.py --work /tmp/cases

Photos are colour-keyed (backdrop, skin, depigmented patch) and segmented by nearest key colour, so every measured
number is exact: 8000 skin px, 2000 depigmented (fraction 0.25) unless the case says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import struct
import traceback
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image, ImageCms

from vitiseg.config import NormaliseConfig, load_config
from vitiseg.pipeline.run import run

BG, SKIN, DEPIG = (40, 70, 160), (196, 142, 112), (246, 232, 226)


class KeySegmenter:
    identity = {"name": "key", "kind": "test", "sha256": "0" * 64}
    colour_normalisation = NormaliseConfig(method="none")

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        cols = np.array([BG, SKIN, DEPIG], np.int32)
        return (((rgb[:, :, None, :].astype(np.int32) - cols[None, None]) ** 2).sum(-1)).argmin(-1).astype(np.uint8)


def photo() -> np.ndarray:
    a = np.empty((100, 120, 3), np.uint8)
    a[:] = BG
    a[10:90, 10:110] = SKIN
    a[10:30, 10:110] = DEPIG
    return a


def save(path: Path, rgb: np.ndarray, **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path, **kw)


def base(root: Path) -> Path:
    """A control patient: P0/v1/hands.png (fraction 0.25)."""
    save(root / "P0" / "v1" / "hands.png", photo())
    return root


def go(visits: Path, out: Path, report: bool = False) -> dict:
    cfg = load_config(overrides={"face": {"area": "skin"}, "report": report})
    return run(visits, out, cfg, segmenter=KeySegmenter(), progress=False)


def row_of(out: Path, path: str) -> str:
    ph = pd.read_csv(out / "photos.csv", dtype=str, keep_default_na=False).set_index("path")
    if path not in ph.index:
        return f"no row for {path}"
    r = ph.loc[path]
    if r["status"] == "ok":
        return f"ok, {r['skin_px']}/{r['depigmented_px']} px, {r['width']}x{r['height']}"
    return f"error: {r['error'][:90]}"


def png_bomb(w: int, h: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * (w + 1) * 8)) + chunk(b"IEND", b""))


def one_photo_case(w: Path, rel: str, write) -> str:
    v = base(w / "v")
    (v / rel).parent.mkdir(parents=True, exist_ok=True)
    write(v / rel)
    s = go(v, w / "out")
    return f"{row_of(w / 'out', rel)}; batch: {s['counts']['ok']} ok, {s['counts']['failed']} failed"


def c_bomb(w):
    return one_photo_case(w, "P1/v1/neck.png", lambda p: p.write_bytes(png_bomb(50_000, 50_000)))


def c_1x1(w):
    return one_photo_case(w, "P1/v1/feet.png", lambda p: Image.new("RGB", (1, 1), SKIN).save(p))


def c_thin(w):
    return one_photo_case(w, "P1/v1/trunk.png", lambda p: Image.new("RGB", (10, 10_000), SKIN).save(p))


def c_gif(w):
    def write(p):
        f = [Image.fromarray(photo()), Image.fromarray(255 - photo())]
        f[0].save(p, save_all=True, append_images=f[1:], duration=100, loop=0)
    out = one_photo_case(w, "P1/v1/face.gif", write)
    skipped = json.loads((w / "out" / "run.json").read_text())["skipped_files"]
    return out + (f"; skipped as not a photo: {skipped}" if skipped else "")


def c_tiff(w):
    def write(p):
        f = [Image.fromarray(photo()), Image.fromarray(255 - photo())]
        f[0].save(p, save_all=True, append_images=f[1:])
    out = one_photo_case(w, "P1/v1/face.tif", write)
    log = "; run.log says first page" if "first is measured" in _log(w) else "; nothing said about the pages"
    return out + log


def _log(w: Path) -> str:
    return (w / "out" / "run.log").read_text() if (w / "out" / "run.log").is_file() else _LOG.getvalue()


def c_png16(w):
    return one_photo_case(w, "P1/v1/face.png", lambda p: cv2.imwrite(
        str(p), cv2.cvtColor(photo().astype(np.uint16) * 257, cv2.COLOR_RGB2BGR)))


def c_cmyk(w):
    return one_photo_case(w, "P1/v1/face.jpg", lambda p: Image.fromarray(photo()).convert("CMYK").save(p, quality=100))


def c_exif(w):
    def write(p):
        img = Image.fromarray(np.ascontiguousarray(np.rot90(photo(), 1)))
        exif = img.getexif()
        exif[0x0112] = 6
        img.save(p, exif=exif)
    return one_photo_case(w, "P1/v1/face.png", write) + " (upright: 120x100)"


def c_unicode(w):
    return one_photo_case(w, "Zoë Müller/visite 1/hands_dorsal gauche.png", lambda p: save(p, photo()))


def c_loop(w):
    v = base(w / "v")
    (v / "P0" / "v1" / "loop").symlink_to(v / "P0")
    s = go(v, w / "out")
    return f"{s['counts']['ok']} ok, {s['counts']['failed']} failed; skipped {s['skipped_files']}"


def c_dirlink(w):
    v = base(w / "v")
    save(w / "store" / "P1" / "v1" / "face.png", photo())
    (v / "P1").symlink_to(w / "store" / "P1")
    go(v, w / "out")
    return row_of(w / "out", "P1/v1/face.png")


def c_broken(w):
    v = base(w / "v")
    (v / "P0" / "v1" / "face.png").symlink_to(w / "gone.png")
    s = go(v, w / "out")
    return f"{row_of(w / 'out', 'P0/v1/face.png')}; {s['counts']['ok']} ok, {s['counts']['failed']} failed"


def manifest_case(w, rel_of):
    v = w / "v"
    save(v / "a.png", photo())
    save(w / "x.png", photo())
    rel = rel_of(w)
    (v / "manifest.csv").write_text(f"path,patient_id,visit_id,region\na.png,A,w0,hands\n{rel},A,w0,face\n")
    go(v, w / "out")
    outside = sorted(p.relative_to(w).as_posix() for p in w.rglob("*") if p.is_file()
                     and not p.relative_to(w).as_posix().startswith(("out/", "v/")))
    return f"{row_of(w / 'out', rel)}; files outside OUT: {outside}"


def c_manifest_up(w):
    return manifest_case(w, lambda w: "../x.png")


def c_manifest_abs(w):
    return manifest_case(w, lambda w: str(w / "x.png"))


def visits_csv_case(w, text: str, show=("patient_id", "visit_id", "date", "dlqi", "t_vasi")) -> str:
    v = base(w / "v")
    save(v / "P0" / "v2" / "hands.png", photo())
    (v / "visits.csv").write_bytes(text.encode("latin-1") if "\xe9" in text else text.encode())
    s = go(v, w / "out", report=True)
    t = pd.read_csv(w / "out" / "visits.csv", dtype=str, keep_default_na=False)
    warn = [ln.split(": ", 1)[1][:100] for ln in _log(w).splitlines() if "WARNING" in ln and "visits.csv" in ln]
    return (f"{t[list(show)].values.tolist()}; report: {'ok' if 'report' in s else s.get('report_error')}"
            + (f"; warning: {warn}" if warn else ""))


def c_dup(w):
    return visits_csv_case(w, "patient_id,visit_id,date,dlqi\nP0,v1,2026-01-01,12\nP0,v2,2026-03-01,5\n"
                              "P0,v2,2026-03-02,7\n")


def c_unknown(w):
    return visits_csv_case(w, "patient_id,visit_id,date,dlqi\nP0,v1,2026-01-01,12\nP0,v2,2026-03-01,5\n"
                              "P9,v1,2026-01-01,3\n", ("patient_id", "visit_id", "f_vasi", "t_vasi", "n_photos"))


def c_baddate(w):
    return visits_csv_case(w, "patient_id,visit_id,date,dlqi\nP0,v1,next tuesday,12\nP0,v2,2026-03-01,5\n")


def c_text(w):
    return visits_csv_case(w, "patient_id,visit_id,date,dlqi\nP0,v1,2026-01-01,twelve\nP0,v2,2026-03-01,5\n")


def c_latin(w):
    return visits_csv_case(w, "patient_id,visit_id,date,notes\nP0,v1,2026-01-01,caf\xe9\n")


def c_formula(w):
    v = w / "v"
    save(v / "=1+2" / "v1" / "hands.png", photo())
    save(v / "=1+2" / "v2" / "hands.png", photo())
    go(v, w / "out")
    cells = pd.read_csv(w / "out" / "visits.csv", dtype=str, keep_default_na=False)["patient_id"].tolist()
    with sqlite3.connect(w / "out" / "vitiseg.sqlite") as con:
        sq = con.execute("select distinct patient_id from visits").fetchall()
    return f"visits.csv patient_id cells {cells}; SQLite {sq}"


def c_cr(w):
    v = base(w / "v")
    save(v / "P1" / "v1" / "face_x\ry.png", photo())
    go(v, w / "out")
    try:
        ph = pd.read_csv(w / "out" / "photos.csv", dtype=str, keep_default_na=False)
        return f"photos.csv reads back as {len(ph)} rows of {len(ph.columns)} columns (2 photos)"
    except Exception as exc:  # noqa: BLE001 - this is what the case is about
        return f"photos.csv unreadable: {type(exc).__name__}: {str(exc)[:80]}"


def c_html(w):
    v = w / "v"
    save(v / "a.png", photo())
    save(v / "b.png", photo())
    pd.DataFrame({"path": ["a.png", "b.png"], "patient_id": ["<script>alert(1)</script>"] * 2,
                  "visit_id": ["\"><img src=x onerror=alert(2)>", "w12"], "region": ["face", "face"]}
                 ).to_csv(v / "manifest.csv", index=False)
    go(v, w / "out", report=True)
    page = (w / "out" / "report.html").read_text()
    raw = [s for s in ("<script>alert(1)", "<img src=x onerror") if s in page]
    return "raw HTML in the page: " + (", ".join(raw) if raw else "none (escaped)")


def c_metadata(w):
    v = w / "v"
    img = Image.fromarray(photo())
    exif = img.getexif()
    exif[0x013B] = "Jane Doe"
    exif.get_ifd(0x8825).update({1: "N", 2: (51.0, 30.0, 12.0)})
    (v / "P1" / "v1").mkdir(parents=True)
    img.save(v / "P1" / "v1" / "face.jpg", exif=exif, comment=b"Jane Doe", quality=100,
             icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    go(v, w / "out", report=True)
    found = []
    for p in (w / "out").rglob("*"):
        if p.suffix in (".png", ".jpg"):
            with Image.open(p) as im:
                extra = set(im.info) - {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}
                if extra or dict(im.getexif()) or b"Jane" in p.read_bytes():
                    found.append(f"{p.name}: {sorted(extra)}")
    return "metadata in output images: " + (", ".join(found) if found else "none")


def record_case(w, content: bytes) -> str:
    v = base(w / "v")
    go(v, w / "out")
    rec = next((w / "out" / ".records").rglob("*.json"))
    rec.write_bytes(content)
    s = go(v, w / "out")
    warn = [ln.split(": ", 1)[1][:90] for ln in _log(w).splitlines() if "record" in ln and "WARNING" in ln]
    return f"{s['counts']['ok']} ok, {s['counts']['reused']} reused" + (f"; warning: {warn[-1]}" if warn else "")


def c_record_corrupt(w):
    return record_case(w, b"{not json")


def c_record_foreign(w):
    return record_case(w, b"[1, 2, 3]")


CASES = [
    ("decompression bomb: 1 KB PNG declaring 50,000 x 50,000 px", c_bomb),
    ("1 x 1 px image", c_1x1),
    ("10 x 10,000 px image", c_thin),
    ("animated GIF", c_gif),
    ("multi-page TIFF (2 pages)", c_tiff),
    ("16-bit colour PNG", c_png16),
    ("CMYK JPEG", c_cmyk),
    ("EXIF-rotated photo (orientation 6)", c_exif),
    ("spaces and non-ASCII in folder and file names", c_unicode),
    ("symbolic link loop in the folder", c_loop),
    ("patient folder linked in from a photo store", c_dirlink),
    ("broken symbolic link named like a photo", c_broken),
    ("manifest.csv path ../x.png", c_manifest_up),
    ("manifest.csv absolute path", c_manifest_abs),
    ("visits.csv: a visit listed twice, rows disagree", c_dup),
    ("visits.csv: a patient without photos", c_unknown),
    ("visits.csv: a date that is not a date", c_baddate),
    ("visits.csv: text in a numeric column", c_text),
    ("visits.csv saved as Latin-1", c_latin),
    ("patient folder named =1+2", c_formula),
    ("carriage return in a file name", c_cr),
    ("HTML in patient and visit IDs (report)", c_html),
    ("EXIF (name, GPS), comment, ICC in the input photo", c_metadata),
    ("corrupted resume record", c_record_corrupt),
    ("foreign resume record (JSON of another shape)", c_record_foreign),
]


def main() -> int:
    import io
    import logging

    global _LOG
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, required=True)
    a = ap.parse_args()
    _LOG = io.StringIO()
    logging.basicConfig(level=logging.WARNING, stream=_LOG, format="%(levelname)s %(name)s: %(message)s")
    print("| case | outcome |\n|---|---|")
    for name, fn in CASES:
        w = a.work / fn.__name__
        shutil.rmtree(w, ignore_errors=True)
        w.mkdir(parents=True)
        _LOG.truncate(0)
        _LOG.seek(0)
        try:
            outcome = fn(w)
        except Exception as exc:  # noqa: BLE001 - a crash is an outcome here
            if type(exc).__name__ == "LayoutError":  # vitiseg run prints its one line and exits 2
                print(f"| {name} | refused: one line, exit 2: {exc} |", flush=True)
                continue
            tb = traceback.extract_tb(exc.__traceback__)[-1]
            outcome = f"**crash**: {type(exc).__name__}: {str(exc)[:90]} ({Path(tb.filename).name}:{tb.lineno})"
        print(f"| {name} | {outcome.replace('|', '/')} |".replace("\r", "\\r"), flush=True)
    return 0


_LOG = None

if __name__ == "__main__":
    raise SystemExit(main())
