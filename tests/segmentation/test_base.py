"""The one path of a photo through a segmenter (segment_photo), and which segmenter a name loads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vitiseg.colour import normalise
from vitiseg.config import NormaliseConfig, SegmentationConfig
from vitiseg.io.images import resize_long_side
from vitiseg.segmentation.artifact import ModelError
from vitiseg.segmentation.base import segment_photo
from vitiseg.segmentation.classical import ClassicalSegmenter
from vitiseg.segmentation.load import load_segmenter

from helpers import SKIN_BOX, KeySegmenter, key_photo, save_tiny_unet


class Recorder:
    """Segmenter double that records the photo it was given and labels everything skin."""

    identity = {"name": "recorder", "kind": "test"}

    def __init__(self, norm: NormaliseConfig, ambiguity: bool = False) -> None:
        self.colour_normalisation = norm
        self.seen: list[np.ndarray] = []
        if ambiguity:
            self.predict_with_ambiguity = lambda rgb: (self.predict(rgb), np.eye(*rgb.shape[:2], dtype=bool))

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        self.seen.append(rgb)
        return np.ones(rgb.shape[:2], np.uint8)


def _cast_photo() -> np.ndarray:
    """A dark blue backdrop with a bright warm patch: grey world and shades of grey estimate different casts."""
    rgb = np.empty((300, 400, 3), np.float64)
    rgb[:] = (40, 70, 160)
    rgb[60:240, 100:300] = (235, 190, 150)
    noise = np.random.default_rng(0).normal(0, 4, rgb.shape)
    return np.clip(rgb + noise, 0, 249).astype(np.uint8)


def test_segment_photo_resizes_then_applies_the_segmenters_own_normalisation() -> None:
    rgb = _cast_photo()
    for method in ("grey_world", "shades_of_grey", "none"):
        norm = NormaliseConfig(method=method)
        rec = Recorder(norm)
        seg = segment_photo(rgb, rec, 200)
        work = resize_long_side(rgb, 200)
        assert seg.rgb.shape == (150, 200, 3) and np.array_equal(seg.rgb, work)
        np.testing.assert_array_equal(rec.seen[0], normalise(work, norm))
        np.testing.assert_array_equal(seg.normalised, rec.seen[0])
        assert seg.classes.shape == (150, 200) and seg.ambiguous is None
        assert set(seg.seconds) == {"normalise", "segment"}
    gw, sog = (normalise(resize_long_side(rgb, 200), NormaliseConfig(method=m)) for m in ("grey_world",
                                                                                          "shades_of_grey"))
    assert np.abs(gw.astype(int) - sog).max() > 5  # the methods really differ on this photo
    full = segment_photo(rgb, Recorder(NormaliseConfig()), 0)  # 0: the photo as is
    assert full.classes.shape == (300, 400)


def test_segment_photo_passes_an_ambiguity_map_through() -> None:
    seg = segment_photo(_cast_photo(), Recorder(NormaliseConfig(), ambiguity=True), 100)
    assert seg.ambiguous is not None and seg.ambiguous.shape == (75, 100) and int(seg.ambiguous.sum()) == 75


def test_key_photo_through_the_test_double_is_exact() -> None:
    rgb, truth = key_photo(100, 120, SKIN_BOX, [(10, 30, 10, 110)])
    np.testing.assert_array_equal(segment_photo(rgb, KeySegmenter(), 1024).classes, truth)


def test_load_segmenter_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    norm = NormaliseConfig(method="grey_world")
    c = load_segmenter(SegmentationConfig(model="classical"), norm)
    assert isinstance(c, ClassicalSegmenter) and c.colour_normalisation == norm
    assert c.identity["kind"] == "classical" and c.identity["params"] == {"min_skin_fraction": 0.01}
    monkeypatch.setenv("VITISEG_MODEL_DIR", str(tmp_path / "none"))  # no shipped model: an error, never classical
    with pytest.raises(ModelError, match="the shipped model not found"):
        load_segmenter(SegmentationConfig(model="default"))
    with pytest.raises(ModelError, match="model folder not found"):
        load_segmenter(SegmentationConfig(model=str(tmp_path / "nothing")))


@pytest.mark.torch
def test_load_segmenter_of_a_folder_without_onnx_uses_pytorch(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    norm = NormaliseConfig(method="grey_world")
    save_tiny_unet(tmp_path / "m", colour_normalisation=NormaliseConfig(method="none"))
    u = load_segmenter(SegmentationConfig(model=str(tmp_path / "m"), device="cpu"), norm)
    assert u.identity["kind"] == "unet" and u.identity["backend"] == "torch"
    assert u.colour_normalisation == NormaliseConfig(method="none")  # its own
    monkeypatch.setenv("VITISEG_MODEL_DIR", str(tmp_path / "m"))
    assert load_segmenter(SegmentationConfig(model="default", device="cpu")).identity["name"] == "tiny"


def test_excluded_pixels_are_background_and_do_not_pull_the_illuminant() -> None:
    """A colour chart or a marker in the photo: labelled background, left out of shades of grey's estimate."""
    rgb = _cast_photo()
    rgb[200:300, 0:100] = (230, 40, 40)  # a red card in the corner
    exclude = np.zeros(rgb.shape[:2], bool)
    exclude[200:300, 0:100] = True
    rec = Recorder(NormaliseConfig(), ambiguity=True)
    seg = segment_photo(rgb, rec, 0, exclude)
    assert not seg.classes[exclude].any() and seg.classes[~exclude].all()
    assert not seg.ambiguous[exclude].any()
    other_card = rgb.copy()
    other_card[200:300, 0:100] = (40, 230, 40)
    other = segment_photo(other_card, Recorder(NormaliseConfig()), 0, exclude)
    np.testing.assert_array_equal(seg.normalised[~exclude], other.normalised[~exclude])  # the card's colour: no effect
    pulled = [normalise(x, NormaliseConfig())[~exclude] for x in (rgb, other_card)]
    assert np.abs(pulled[0].astype(int) - pulled[1]).max() > 5  # without the exclusion it would pull the estimate
    half = segment_photo(rgb, Recorder(NormaliseConfig()), 200, exclude)  # exclusion follows the working size
    assert half.classes.shape == (150, 200) and not half.classes[100:150, 0:50].any() and half.classes[:100].all()


def test_model_by_installed_name_and_clear_error(tmp_path, monkeypatch) -> None:
    from vitiseg.segmentation.artifact import SHIPPED_MODELS_DIR, ModelError, shipped_model_names
    from vitiseg.segmentation.load import model_dir_of

    assert {"vitiseg-unet-lite0-v2", "vitiseg-unet-lite0", "vitiseg-unet-mnv2"} <= set(shipped_model_names())
    assert model_dir_of("vitiseg-unet-mnv2") == SHIPPED_MODELS_DIR / "vitiseg-unet-mnv2"
    assert model_dir_of("default").name == "vitiseg-unet-lite0-v2"
    (tmp_path / "vitiseg-unet-mnv2").mkdir()  # a folder of that name here, with its own config.json, wins
    (tmp_path / "vitiseg-unet-mnv2" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert model_dir_of("vitiseg-unet-mnv2") == Path("vitiseg-unet-mnv2")
    with pytest.raises(ModelError, match="installed models: vitiseg-unet-lite0, vitiseg-unet-lite0-v2, vitiseg-unet-mnv2"):
        model_dir_of("no-such-model")
