"""Typed configuration of ``vitiseg run`` and of the scored body regions.

Every section is a :class:`StrictModel` (pydantic, ``extra="forbid"``, frozen): a misspelt or unknown key is rejected
with a message that names the key and the file, instead of being silently ignored. ``load_config`` merges a user file
over the packaged defaults ``vitiseg/defaults/run.yaml``; ``load_regions`` reads ``vitiseg/defaults/regions.yaml``
(hand units and aliases per region) or a user file of the same form. The other typed configs of the package (model
folders, training runs, synthetic cohorts) build on :class:`StrictModel`, :func:`read_yaml` and
:func:`format_validation_error` from here.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class ConfigError(ValueError):
    """A configuration file is missing, malformed, or holds an unknown or invalid key."""


class StrictModel(BaseModel):
    """Base of every typed config: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NormaliseConfig(StrictModel):
    """Colour normalisation (see :mod:`vitiseg.colour`)."""

    method: Literal["shades_of_grey", "grey_world", "none"] = "shades_of_grey"
    minkowski_p: float = Field(6.0, ge=1.0, le=64.0)


class ClassicalConfig(StrictModel):
    """Parameters of the training-free CIELAB baseline (see :mod:`vitiseg.segmentation.classical`)."""

    min_skin_fraction: float = Field(0.01, ge=0.0, le=1.0)


class SegmentationConfig(StrictModel):
    """Which segmenter labels pixels, and where it runs. ``backend`` runs a U-Net on ONNX Runtime (``onnx``, its
    ``model.onnx``) or PyTorch (``torch``, ``vitiseg[train]``); ``auto``: ONNX Runtime when the model has an ONNX
    file. Device and backend are not in the configuration fingerprint: the segmenter's identity records the backend."""

    model: str = "default"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    backend: Literal["auto", "onnx", "torch"] = "auto"
    classical: ClassicalConfig = ClassicalConfig()


class FaceConfig(StrictModel):
    """How the counted facial area is built for ``face`` photos (see :mod:`vitiseg.face`)."""

    area: Literal["truev", "skin"] = "truev"


class IOConfig(StrictModel):
    """Image reading limits and working resolution."""

    max_pixels: int = Field(80_000_000, gt=0)
    work_long_side: int = Field(1024, ge=0)


class OutputsConfig(StrictModel):
    """What is written besides the tables."""

    overlays: bool = True
    overlay_long_side: int = Field(1600, ge=64)
    jpeg_quality: int = Field(90, ge=10, le=100)


class ChartConfig(StrictModel):
    """Colour-chart calibration (see :mod:`vitiseg.calibration.chart`)."""

    detect: bool = True  # look for a 24-patch ColorChecker in every photo
    method: Literal["matrix", "root_polynomial"] = "matrix"
    min_patches: int = Field(12, ge=6, le=24)  # usable (unclipped) patches needed for a fit
    max_residual_de00: float = Field(5.0, gt=0.0)  # a candidate fitting worse than this is not a chart


MARKER_DICTIONARIES = ("DICT_4X4_50", "DICT_5X5_100", "DICT_6X6_250", "DICT_ARUCO_ORIGINAL", "DICT_APRILTAG_16h5",
                       "DICT_APRILTAG_25h9", "DICT_APRILTAG_36h11")


class MarkerConfig(StrictModel):
    """Physical scale from square fiducial markers (see :mod:`vitiseg.calibration.scale`)."""

    size_cm: float | None = Field(None, gt=0.0, le=50.0)  # side of the marker's black square; None: no scale
    dictionary: Literal[MARKER_DICTIONARIES] = "DICT_4X4_50"  # type: ignore[valid-type]
    margin: float = Field(0.5, ge=0.0, le=3.0)  # border around a marker left out of skin, in marker sides


class ConsistencyConfig(StrictModel):
    """Visit-to-visit change of the healthy skin's colour that the report flags (see
    :mod:`vitiseg.calibration.consistency`)."""

    max_delta_L: float = Field(3.0, gt=0.0)  # L* units, both photos colour-corrected by a chart
    max_delta_ita: float = Field(4.0, gt=0.0)  # degrees


class CalibrationConfig(StrictModel):
    """References photographed with the patient: colour chart, scale marker, and what the report checks."""

    chart: ChartConfig = ChartConfig()
    marker: MarkerConfig = MarkerConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()


class TrackingConfig(StrictModel):
    """Follow-up tracking (see :mod:`vitiseg.tracking`): each follow-up photo aligned to the patient's baseline photo
    of the same region and view, its change map, and the baseline's depigmented patches followed visit by visit."""

    enabled: bool = True
    # alignment (vitiseg.tracking.register)
    features: Literal["sift", "orb"] = "sift"
    max_features: int = Field(4000, ge=100)
    ratio_test: float = Field(0.8, gt=0.0, le=1.0)  # Lowe's ratio test on the two nearest matches
    ransac_px: float = Field(3.0, gt=0.0)  # MAGSAC threshold at a 1024-px long side (scaled with the photo)
    refine: Literal["ecc", "none"] = "ecc"
    ecc_iterations: int = Field(60, ge=1)
    face_warp: Literal["homography", "piecewise_affine"] = "homography"
    min_inliers: int = Field(15, ge=4)  # fewer agreeing matches: the features alone are not trusted
    # a pair below any of these is "not_aligned" and is not compared
    min_coverage: float = Field(0.5, ge=0.0, le=1.0)  # share of the baseline skin the follow-up shows
    min_skin_overlap: float = Field(0.6, ge=0.0, le=1.0)  # IoU of baseline and warped follow-up skin
    min_correlation: float = Field(0.4, ge=-1.0, le=1.0)  # ECC correlation of the aligned high-passed photos
    max_landmark_residual: float = Field(0.25, gt=0.0)  # faces: median landmark residual / eye distance
    # patches (vitiseg.tracking.patches)
    min_patch_px: int = Field(50, ge=1)
    min_patch_skin_pct: float = Field(0.2, ge=0.0, le=100.0)
    edge_tolerance_px: float = Field(1.0, ge=0.0)  # depths within this of a patch border tie (misalignment)
    min_island_px: int = Field(4, ge=1)
    min_repigmented_share: float = Field(0.05, ge=0.0, le=1.0)  # less new skin: pattern "none"
    min_remaining_share: float = Field(0.05, ge=0.0, le=1.0)  # less left depigmented: pattern "complete"
    marginal_auc: float = Field(0.90, ge=0.0, le=1.0)  # border_auc >= this: marginal
    perifollicular_auc: float = Field(0.65, ge=0.0, le=1.0)  # <= this: perifollicular; between: mixed
    overlay_long_side: int = Field(1024, ge=64)


class RunConfig(StrictModel):
    """Resolved configuration of ``vitiseg run``."""

    normalise: NormaliseConfig = NormaliseConfig()
    segmentation: SegmentationConfig = SegmentationConfig()
    face: FaceConfig = FaceConfig()
    io: IOConfig = IOConfig()
    outputs: OutputsConfig = OutputsConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    tracking: TrackingConfig = TrackingConfig()
    report: bool = True

    def fingerprint(self) -> str:
        """SHA-256 (hex, 16 chars) of the canonical JSON of the settings that change per-photo results."""
        relevant = {
            "normalise": self.normalise.model_dump(),
            "segmentation": {k: v for k, v in self.segmentation.model_dump().items()
                             if k not in ("device", "backend")},
            "face": self.face.model_dump(),
            "io": self.io.model_dump(),
            "calibration": self.calibration.model_dump(exclude={"consistency"}),
        }
        blob = json.dumps(relevant, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


#: File-name token of the hand-unit photo (``palm.jpg``, :mod:`vitiseg.calibration.hand_unit`): reserved, so it is
#: neither a scored region nor an alias (scored palm-side photos of the hands are ``hand_palmar``).
PALM = "palm"


class RegionSpec(StrictModel):
    """One scored body region: its VASI hand units (1 hand unit = 1 % BSA) and its T-VASI group."""

    hand_units: float = Field(gt=0, le=100)
    tvasi_region: Literal["head_neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet"]
    aliases: list[str] = []


class RegionsConfig(StrictModel):
    """All regions; aliases must be unique and must not shadow a region name."""

    regions: dict[str, RegionSpec]

    @model_validator(mode="after")
    def _check(self) -> "RegionsConfig":
        seen: dict[str, str] = {}
        for name, spec in self.regions.items():
            for key in [name, *spec.aliases]:
                k = key.lower()
                if k in seen and seen[k] != name:
                    raise ValueError(f"alias {key!r} maps to both {seen[k]!r} and {name!r}")
                if k == PALM:
                    raise ValueError(f"{key!r} is reserved for the hand-unit photo (palm.jpg), not a region or alias; "
                                     "name scored palm-side photos of the hands hand_palmar")
                seen[k] = name
        total = sum(s.hand_units for s in self.regions.values())
        if abs(total - 100.0) > 1e-6:
            raise ValueError(f"hand units must sum to 100 (1 hand unit = 1 % BSA); they sum to {total}")
        return self

    def resolve(self, name: str) -> str | None:
        """Canonical region for a region name or alias (case-insensitive), or None if unknown."""
        k = name.strip().lower()
        for region, spec in self.regions.items():
            if k == region or k in (a.lower() for a in spec.aliases):
                return region
        return None


def read_yaml(path: Path) -> dict[str, Any]:
    """A YAML file's top-level mapping (``{}`` for an empty file); :class:`ConfigError` naming the file otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"config {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} must be a mapping at top level, got {type(data).__name__}")
    return data


def format_validation_error(exc: ValidationError, source: str, reference: str = "vitiseg/defaults/run.yaml") -> str:
    """One readable message for a pydantic error: each unknown key named, each invalid value with its reason.

    ``reference`` tells the user where the valid keys are listed."""
    lines = [f"invalid configuration in {source}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            lines.append(f"  - unknown key '{loc}' (check the spelling; valid keys: {reference})")
        else:
            lines.append(f"  - {loc}: {err['msg']}")
    return "\n".join(lines)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` merged into a copy of ``base``, recursively for nested mappings."""
    out = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def builtin_path(name: str) -> Path:
    """Path of a default YAML shipped with the package (``run.yaml``, ``regions.yaml``)."""
    return Path(str(resources.files("vitiseg") / "defaults" / name))


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load the run configuration: packaged defaults, then ``path`` (if given), then ``overrides``.

    Raises :class:`ConfigError` naming the file and any unknown or invalid key.
    """
    data = read_yaml(builtin_path("run.yaml"))
    source = "built-in defaults"
    if path is not None:
        data = deep_merge(data, read_yaml(Path(path)))
        source = str(path)
    if overrides:
        data = deep_merge(data, overrides)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_regions(path: str | Path | None = None) -> RegionsConfig:
    """Load region definitions (hand units, T-VASI grouping, aliases); default is the built-in regions.yaml."""
    p = Path(path) if path is not None else builtin_path("regions.yaml")
    try:
        return RegionsConfig.model_validate(read_yaml(p))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, str(p))) from None


def config_text(path: str | Path | None = None, default: bool = False) -> str:
    """``vitiseg config``: the packaged default run config as shipped (with its comments) when ``default`` or no
    ``path``; else ``path`` validated and resolved over the defaults, as YAML (:class:`ConfigError` if invalid)."""
    if default or path is None:
        return builtin_path("run.yaml").read_text(encoding="utf-8")
    if not Path(path).is_file():
        raise ConfigError(f"config not found: {path}")
    cfg = load_config(path)
    return f"# {path} resolved over the packaged defaults\n" + yaml.safe_dump(cfg.model_dump(mode="json"),
                                                                            sort_keys=False)
