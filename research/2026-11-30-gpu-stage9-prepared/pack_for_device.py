#!/usr/bin/env python
"""Pack what a lent GPU machine needs for ``research/2026-11-30-gpu-stage9-prepared/gpu_stage9.sh`` into one ignored folder (default ``.device_pack``).

The device tool sends the repository and the paths named in its ``carry`` (64 MiB in all), not the ``../shared``
beside the checkout, and the machine's Python lacks some of vitiseg's dependencies. This writes:

    .device_pack/data/skin/<set>/{images,masks,splits.json,SOURCE.txt}   the four skin sets
    .device_pack/data/real_vitiligo_dev/{images,masks,SOURCE.txt}          the real polygon set, as is
    .device_pack/whl/*.whl     CPython 3.12 manylinux wheels missing there (pip download from this machine's index)

Photos are re-encoded to fit: PNG photos become JPEG (quality 95), JPEG photos above ``--max-kb`` are re-encoded at
``--quality``; masks are copied byte for byte. The research-use terms of the data (each set's SOURCE.txt) still apply:
the pack is ignored by git (``.git/info/exclude``) and must never be committed. Prints the pack's size.

    python research/2026-11-30-gpu-stage9-prepared/pack_for_device.py --shared ../shared/data      # then: device run, carry [".device_pack"]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

log = logging.getLogger("pack_for_device")
SKIN_SETS = ("abdominal_skin", "fasseg_face_skin", "hgr_hands_subset", "pratheepan_skin")
# missing from the device image's Python 3.12 (its package list: /work/.library/device/KINDS.md); versions as here
WHEELS = ("pydantic==2.14.4", "pydantic-core==2.50.5", "annotated-types==0.8.0", "typing-inspection==0.4.5",
          "colour-science==0.4.6", "kornia==0.9.0", "kornia-rs==0.2.0", "segmentation-models-pytorch==0.6.0")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")


def _size(p: Path) -> int:
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def pack_images(src: Path, dst: Path, quality: int, max_kb: int) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        ext = f.suffix.lower()
        if ext == ".png":
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read {f}")
            out = dst / f"{f.stem}.jpg"
            if out.exists():
                raise ValueError(f"{out} would be written twice (both {f.stem}.png and .jpg exist)")
            cv2.imwrite(str(out), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
        elif ext in (".jpg", ".jpeg") and f.stat().st_size > max_kb * 1024:
            img = cv2.imread(str(f), cv2.IMREAD_COLOR)
            if img is None:
                raise ValueError(f"cannot read {f}")
            cv2.imwrite(str(dst / f.name), img, [cv2.IMWRITE_JPEG_QUALITY, quality])
        elif f.is_file():
            shutil.copy2(f, dst / f.name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", default="../shared/data", help="folder holding skin/ and real_vitiligo_dev/")
    ap.add_argument("--out", default=".device_pack")
    ap.add_argument("--quality", type=int, default=90)
    ap.add_argument("--max-kb", type=int, default=60)
    ap.add_argument("--no-wheels", action="store_true")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    shared, out = Path(a.shared), Path(a.out)
    for s in SKIN_SETS:
        src = shared / "skin" / s
        pack_images(src / "images", out / "data" / "skin" / s / "images", a.quality, a.max_kb)
        shutil.copytree(src / "masks", out / "data" / "skin" / s / "masks", dirs_exist_ok=True)
        for name in ("splits.json", "SOURCE.txt"):
            if (src / name).is_file():
                shutil.copy2(src / name, out / "data" / "skin" / s / name)
    shutil.copytree(shared / "real_vitiligo_dev", out / "data" / "real_vitiligo_dev", dirs_exist_ok=True)
    if not a.no_wheels:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", "-d", str(out / "whl")]
        for p in PLATFORMS:
            cmd += ["--platform", p]
        subprocess.run(cmd + list(WHEELS), check=True)
    log.info("pack %s: data %.1f MiB, wheels %.1f MiB (the device tool carries 64 MiB with the repository)", out,
             _size(out / "data") / 2**20, _size(out / "whl") / 2**20 if (out / "whl").is_dir() else 0.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
