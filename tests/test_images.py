"""Image reading: EXIF orientation, bit depths and colour modes converted explicitly, atomic writes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitiseg.images import ImageReadError, encode_jpeg, read_rgb, write_png
from vitiseg.normalise import estimate_illuminant, normalise
from vitiseg.config import NormaliseConfig


def test_exif_orientation_is_honoured(tmp_path: Path) -> None:
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = 255  # left half white
    img = Image.fromarray(a)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 CW on display
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = read_rgb(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)
    assert out[:20].mean() > 200 and out[20:].mean() < 50  # the white half is now on top


def test_modes_are_converted(tmp_path: Path) -> None:
    g16 = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = read_rgb(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (64, 64, 3)
    assert out[-1, -1, 0] == round(g16[-1, -1] / 65535 * 255)
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(tmp_path / "g.png")
    assert (read_rgb(tmp_path / "g.png") == 100).all()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:4, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    o = read_rgb(tmp_path / "a.png")
    assert tuple(o[0, 0]) == (200, 0, 0) and tuple(o[7, 7]) == (255, 255, 255)  # transparent -> white
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.tif")
    c = read_rgb(tmp_path / "c.tif")
    assert c.shape == (8, 8, 3) and c[0, 0, 0] > 200 and c[0, 0, 1] < 60


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "e.jpg").write_bytes(b"")
    with pytest.raises(ImageReadError, match="empty"):
        read_rgb(tmp_path / "e.jpg")
    buf = encode_jpeg(np.full((64, 64, 3), 128, np.uint8))
    (tmp_path / "t.jpg").write_bytes(buf[: len(buf) // 2])
    with pytest.raises(ImageReadError, match="truncated"):
        read_rgb(tmp_path / "t.jpg")
    (tmp_path / "ok.jpg").write_bytes(buf)
    with pytest.raises(ImageReadError, match="too large"):
        read_rgb(tmp_path / "ok.jpg", max_pixels=100)
    with pytest.raises(ImageReadError, match="cannot open"):
        read_rgb(tmp_path / "missing.jpg")


def test_jpeg_written_without_metadata(tmp_path: Path) -> None:
    data = encode_jpeg(np.zeros((10, 10, 3), np.uint8))
    assert Image.open(io.BytesIO(data)).getexif() == {}
    write_png(tmp_path / "sub" / "m.png", np.ones((5, 5), np.uint8))
    assert not list(tmp_path.rglob("*.tmp")) and (tmp_path / "sub" / "m.png").is_file()


def test_shades_of_grey_removes_a_colour_cast() -> None:
    rng = np.random.default_rng(0)
    scene = rng.integers(40, 220, (64, 64, 3)).astype(np.float64)
    neutral = scene.mean(axis=2, keepdims=True).repeat(3, axis=2)
    cast = np.clip(neutral * np.array([1.15, 1.0, 0.8]), 0, 255).astype(np.uint8)
    out = normalise(cast, NormaliseConfig())
    e_before = estimate_illuminant(cast, 6)
    e_after = estimate_illuminant(out, 6)
    assert np.ptp(e_before) > 0.2 and np.ptp(e_after) < 0.02
    assert (normalise(cast, NormaliseConfig(method="none")) == cast).all()
    gw = normalise(cast, NormaliseConfig(method="grey_world"))
    assert np.ptp(estimate_illuminant(gw, 1)) < 0.02
