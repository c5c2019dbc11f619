"""Image reading: EXIF orientation, bit depths, colour modes and ICC profiles converted explicitly; atomic writes."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vitiseg.io.images import (
    IMAGE_SUFFIXES,
    REFUSED_SUFFIXES,
    ImageReadError,
    encode_jpeg,
    image_size,
    read_mask,
    read_rgb,
    resize_long_side,
    write_png,
)


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
    assert image_size(tmp_path / "r.jpg") == (40, 20)  # the upright size, from the header
    img.save(tmp_path / "p.png")
    assert image_size(tmp_path / "p.png") == (20, 40) == read_rgb(tmp_path / "p.png").shape[:2]


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


def test_written_files_decode_to_the_written_values_without_metadata(tmp_path: Path) -> None:
    data = encode_jpeg(np.full((10, 10, 3), (200, 100, 50), np.uint8), quality=95)
    with Image.open(io.BytesIO(data)) as im:
        assert im.getexif() == {} and "icc_profile" not in im.info
        assert np.abs(np.asarray(im).astype(int) - (200, 100, 50)).max() <= 2
    m = np.arange(30, dtype=np.uint8).reshape(5, 6) % 3
    write_png(tmp_path / "sub" / "m.png", m)
    assert not list(tmp_path.rglob("*.tmp"))
    np.testing.assert_array_equal(read_mask(tmp_path / "sub" / "m.png"), m)  # lossless, values unchanged


def test_resize_long_side_only_shrinks() -> None:
    a = np.zeros((300, 400, 3), np.uint8)
    assert resize_long_side(a, 100).shape == (75, 100, 3)
    assert resize_long_side(a, 1000) is a and resize_long_side(a, 0) is a
    assert resize_long_side(np.zeros((3, 1000, 3), np.uint8), 10).shape == (1, 10, 3)  # never 0 px


# Adobe RGB (1998) colorants adapted to the D50 PCS, as in Adobe's published profile (s15Fixed16 rounding aside)
ADOBE_D50 = {b"rXYZ": (0.6097, 0.3111, 0.0195), b"gXYZ": (0.2053, 0.6257, 0.0609), b"bXYZ": (0.1492, 0.0632, 0.7446)}


def _tags(icc: bytes) -> dict[bytes, tuple[int, int]]:
    n = struct.unpack(">I", icc[128:132])[0]
    return {sig: (off, size) for sig, off, size in
            (struct.unpack(">4sII", icc[132 + 12 * i:144 + 12 * i]) for i in range(n))}


def _s15(x: float) -> bytes:
    return struct.pack(">i", int(round(x * 65536)))


def _wide_gamut_profile() -> bytes:
    """LittleCMS's sRGB profile with the Adobe RGB colorants and another name: a valid non-sRGB matrix/TRC profile."""
    from PIL import ImageCms

    icc = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    tags = _tags(bytes(icc))
    for sig, xyz in ADOBE_D50.items():
        off = tags[sig][0]
        icc[off + 8:off + 20] = b"".join(_s15(v) for v in xyz)
    off, size = tags[b"desc"]
    name = "sRGB".encode("utf-16-be")
    i = bytes(icc).index(name, off, off + size)
    icc[i:i + len(name)] = "Wide".encode("utf-16-be")
    return bytes(icc)


def _colorants(icc: bytes) -> np.ndarray:
    tags = _tags(icc)
    cols = [[struct.unpack(">i", icc[tags[s][0] + 8 + 4 * k:tags[s][0] + 12 + 4 * k])[0] / 65536 for k in range(3)]
            for s in (b"rXYZ", b"gXYZ", b"bXYZ")]
    return np.array(cols).T  # columns = colorants


def test_icc_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    import colour
    from PIL import ImageCms

    wide = _wide_gamut_profile()
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(wide))).startswith("Wide")
    pix = np.array([[[180, 120, 100], [120, 150, 110], [200, 170, 150], [90, 90, 140]]], np.uint8)
    Image.fromarray(pix).save(tmp_path / "w.png", icc_profile=wide)
    got = read_rgb(tmp_path / "w.png").astype(float)
    # expected by the ICC matrix/shaper rule, computed here with numpy and colour-science's sRGB curve:
    # linear source RGB -> D50 XYZ (source colorants) -> linear sRGB (inverse of sRGB's D50 colorants) -> encode
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    lin = colour.cctf_decoding(pix.reshape(-1, 3) / 255.0, function="sRGB")  # the profile keeps sRGB's curve
    out_lin = np.clip(lin @ _colorants(wide).T @ np.linalg.inv(_colorants(srgb)).T, 0, 1)
    expected = np.round(colour.cctf_encoding(out_lin, function="sRGB") * 255.0)
    assert np.abs(got.reshape(-1, 3) - expected).max() <= 2
    assert np.abs(got.reshape(-1, 3) - pix.reshape(-1, 3)).max() >= 10  # the conversion did something
    # an sRGB-tagged photo is left as it is; so is one without a profile
    Image.fromarray(pix).save(tmp_path / "s.png", icc_profile=srgb)
    assert (read_rgb(tmp_path / "s.png") == pix).all()
    # a broken profile: pixels taken as they are
    Image.fromarray(pix).save(tmp_path / "b.png", icc_profile=b"not a profile at all")
    assert (read_rgb(tmp_path / "b.png") == pix).all()


def test_heic_photos_are_read_upright(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif")
    a = np.zeros((32, 64, 3), np.uint8)
    a[:, :32] = (230, 200, 180)  # left half light
    a[:, 32:] = (90, 60, 40)
    Image.fromarray(a).save(tmp_path / "p.heic", quality=95)
    out = read_rgb(tmp_path / "p.heic")
    assert out.shape == (32, 64, 3)
    assert np.abs(out[:, 4:28].astype(int) - [230, 200, 180]).max() <= 6
    assert np.abs(out[:, 36:60].astype(int) - [90, 60, 40]).max() <= 6
    assert ".heic" in IMAGE_SUFFIXES and ".heif" in IMAGE_SUFFIXES


def test_jpeg_draft_decoding_keeps_at_least_the_working_size(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    (tmp_path / "p.jpg").write_bytes(encode_jpeg(rgb, 95))
    assert read_rgb(tmp_path / "p.jpg", reduce_to_long_side=400).shape == (480, 640, 3)  # < 2x: full decode
    assert read_rgb(tmp_path / "p.jpg", reduce_to_long_side=300).shape == (240, 320, 3)  # 1/2: long side >= 300
    assert read_rgb(tmp_path / "p.jpg", reduce_to_long_side=160).shape == (120, 160, 3)  # 1/4
    assert read_rgb(tmp_path / "p.jpg", reduce_to_long_side=50).shape == (60, 80, 3)  # at most 1/8
    assert image_size(tmp_path / "p.jpg") == (480, 640)  # the size its masks are given at


# ------------------------------------------------------------------------------------------- hostile photos


def png_declaring(w: int, h: int) -> bytes:
    """A valid-looking 1 KB PNG whose header declares ``w x h`` 8-bit grey pixels (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * (w + 1) * 8)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side, limit", [(50_000, 80_000_000), (9_000, 80_000_000), (1_000, 100_000)])
def test_decompression_bombs_are_refused_before_decoding(tmp_path: Path, side: int, limit: int) -> None:
    """50k x 50k is beyond Pillow's own bomb limit; 9k x 9k (81 MP) and 1k x 1k are beyond vitiseg's max_pixels."""
    (tmp_path / "bomb.png").write_bytes(png_declaring(side, side))
    assert (tmp_path / "bomb.png").stat().st_size < 2000
    with pytest.raises(ImageReadError, match=r"^image too large"):
        read_rgb(tmp_path / "bomb.png", max_pixels=limit)


def test_gif_is_refused_even_under_another_name(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((200, 150, 120), (10, 10, 10))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    (tmp_path / "renamed.jpg").write_bytes((tmp_path / "anim.gif").read_bytes())
    for name in ("anim.gif", "renamed.jpg"):
        with pytest.raises(ImageReadError, match="^GIF is not supported: its 256-colour palette"):
            read_rgb(tmp_path / name)
    assert ".gif" in REFUSED_SUFFIXES and ".gif" not in IMAGE_SUFFIXES


def test_a_multi_page_tiff_gives_its_first_page_and_says_so(tmp_path: Path) -> None:
    pages = [Image.new("RGB", (24, 16), c) for c in ((200, 150, 120), (10, 20, 30), (0, 0, 0))]
    pages[0].save(tmp_path / "p.tif", save_all=True, append_images=pages[1:])
    notes: list[str] = []
    out = read_rgb(tmp_path / "p.tif", notes=notes)
    assert out.shape == (16, 24, 3) and (out == (200, 150, 120)).all()
    assert notes == ["TIFF file of 3 pages or frames: the first is measured"]
    pages[0].save(tmp_path / "one.tif")
    notes.clear()
    read_rgb(tmp_path / "one.tif", notes=notes)
    assert notes == []


def test_16_bit_colour_png_and_cmyk_jpeg_read_as_their_8_bit_srgb(tmp_path: Path) -> None:
    import cv2

    rgb = np.array([[[196, 142, 112], [246, 232, 226], [40, 70, 160], [0, 255, 7]]], np.uint8)
    cv2.imwrite(str(tmp_path / "c16.png"), cv2.cvtColor(rgb.astype(np.uint16) * 257, cv2.COLOR_RGB2BGR))
    assert (tmp_path / "c16.png").read_bytes()[24:26] == bytes([16, 2])  # IHDR: 16 bits, truecolour
    assert (read_rgb(tmp_path / "c16.png") == rgb).all()
    Image.fromarray(np.repeat(np.repeat(rgb, 8, 0), 8, 1)).convert("CMYK").save(tmp_path / "k.jpg", quality=100)
    with Image.open(tmp_path / "k.jpg") as im:
        assert im.mode == "CMYK"
    got = read_rgb(tmp_path / "k.jpg")[4, 4::8].astype(int)
    assert np.abs(got - rgb[0]).max() <= 3  # Pillow's naive CMYK <-> RGB round trip, through a JPEG
