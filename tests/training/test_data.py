"""Training data: sources of each kind, splits by source photo (no leak), bit-mask targets, augmentation crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitiseg.config import NormaliseConfig
from vitiseg.io.images import read_mask, write_jpeg, write_png
from vitiseg.training import data as ds
from vitiseg.training.augment import AugmentConfig, augment_crop

from helpers import SHARED_DATA

REAL = SHARED_DATA / "real_vitiligo_dev"


def test_source_group_and_split_by_photo() -> None:
    assert ds.source_group("0108946f-32c70e1a_jpg.rf.7e48") == "32c70e1a_jpg"
    assert ds.source_group("abc-roi64_jpg.rf.1") == ds.source_group("xyz-roi64_jpg.rf.2")
    assert ds.source_group("plain") == "plain"
    groups = [f"g{i}" for i in range(10)]
    val = ds.group_val_set(groups, 0.3, 0)
    assert len(val) == 3 and val == ds.group_val_set(list(reversed(groups)), 0.3, 0)
    assert val != ds.group_val_set(groups, 0.3, 1)  # the seed picks another set
    assert len(ds.group_val_set(["a", "b"], 0.01, 0)) == 1  # at least one val group, at least one train group
    assert len(ds.group_val_set(["a", "b"], 0.99, 0)) == 1


def test_real_polygons_split_has_no_source_leak() -> None:
    if not REAL.is_dir():
        pytest.skip("real_vitiligo_dev not available")
    by = ds.list_samples(ds.SourceConfig(name="r", kind="lesion", path=str(REAL), val_fraction=0.3))
    tr, va = {s.group for s in by["train"]}, {s.group for s in by["val"]}
    assert tr and va and not (tr & va)
    assert len(by["train"]) + len(by["val"]) == len(list((REAL / "images").iterdir()))


def test_yolo_source(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "images" / "a-p1.rf.x.jpg", np.full((40, 40, 3), 120, np.uint8))
    write_jpeg(tmp_path / "images" / "b-p2.rf.y.jpg", np.full((40, 40, 3), 120, np.uint8))
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a-p1.rf.x.txt").write_text("0 0.25 0.25 0.75 0.25 0.75 0.75 0.25 0.75\n")
    by = ds.list_samples(ds.SourceConfig(name="y", kind="yolo", path=str(tmp_path), val_fraction=0.5))
    assert len(by["train"]) == 1 and len(by["val"]) == 1
    s = next(x for x in by["train"] + by["val"] if x.id == "a-p1.rf.x")
    t = ds.load_target(s, 40, 40)
    assert t[20, 20] == ds.DEPIG_BIT and t[2, 2] == ds.NOT_DEPIG
    assert int((t == ds.DEPIG_BIT).sum()) == 21 * 21  # the square (10, 10)-(30, 30), both edges filled
    other = next(x for x in by["train"] + by["val"] if x.id == "b-p2.rf.y")
    assert (ds.load_target(other, 40, 40) == ds.NOT_DEPIG).all()  # no label file = no lesion


def test_targets_of_each_kind(tmp_path: Path, proc_dataset: Path) -> None:
    s = ds.list_samples(ds.SourceConfig(name="p", kind="classes", path=str(proc_dataset), train_splits=["train"],
                                        val_splits=["val"]))
    assert [x.id for x in s["val"]] == ["proc_0006", "proc_0007"] and len(s["train"]) == 6 and s["test"] == []
    cls = read_mask(s["train"][0].label)
    rgb, t = ds.load_sample(s["train"][0], NormaliseConfig())
    assert rgb.shape == (64, 64, 3)
    np.testing.assert_array_equal(t, 1 << cls)  # class c -> bit c: 1 background, 2 skin, 4 depigmented
    m = np.zeros((4, 4), np.uint8)
    m[:2] = 255
    write_jpeg(tmp_path / "images" / "x.jpg", np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / "masks" / "x.png", m)
    skin = ds.Sample("x", tmp_path / "images" / "x.jpg", tmp_path / "masks" / "x.png", "skin", "s", "x")
    assert ds.load_target(skin, 4, 4)[:, 0].tolist() == [ds.SKIN_BIT] * 2 + [ds.BG_BIT] * 2
    lesion = ds.Sample("x", tmp_path / "images" / "x.jpg", tmp_path / "masks" / "x.png", "lesion", "s", "x")
    assert ds.load_target(lesion, 4, 4)[:, 0].tolist() == [ds.DEPIG_BIT] * 2 + [ds.NOT_DEPIG] * 2
    with pytest.raises(ValueError, match="mask"):
        ds.load_target(skin, 5, 4)


def test_augment_crop_pads_with_unknown(proc_dataset: Path) -> None:
    s = ds.list_samples(ds.SourceConfig(name="p", kind="classes", path=str(proc_dataset)))
    rgb, t = ds.load_sample(s["train"][0], NormaliseConfig())
    img, tc = augment_crop(rgb, t, np.random.default_rng(0), 48, 64, AugmentConfig())
    assert img.shape == (64, 64, 3) and tc.shape == (64, 64)
    assert set(np.unique(tc)) <= {1, 2, 4, ds.UNKNOWN} and (tc == ds.UNKNOWN).any()  # padding is unknown
    plain = AugmentConfig(scale_range=(1.0, 1.0), hflip=False, vflip=False, rot90=False, brightness=0.0,
                          contrast=0.0, saturation=0.0, hue_deg=0.0, blur_prob=0.0)
    img2, tc2 = augment_crop(rgb, t, np.random.default_rng(0), 64, 64, plain)
    np.testing.assert_array_equal(img2, rgb)  # the whole 64 px photo, untouched
    np.testing.assert_array_equal(tc2, t)
