"""What a run folder records about how it was made: package versions, memory, and the model's resume key."""

from __future__ import annotations

import hashlib
import json
import platform
import resource
from importlib import metadata
from typing import Any

TRACKED_PACKAGES = ["vitiseg", "numpy", "scipy", "opencv-contrib-python", "pillow", "scikit-image", "colour-science",
                    "onnxruntime", "torch", "segmentation-models-pytorch", "timm", "mediapipe", "pandas", "pydantic"]


def versions() -> dict[str, str]:
    """Python and the tracked packages' installed versions (``"not installed"`` when absent)."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def peak_rss_mb() -> dict[str, float]:
    """Peak resident memory (MiB) of this process and of the largest finished child (local workers)."""
    return {"main": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "largest_child": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}


def model_key(identity: dict[str, Any]) -> str:
    """Resume key of a segmenter: SHA-256 of its identity (weights hash plus every setting that changes a mask)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def describe_model(identity: dict[str, Any]) -> str:
    """One log line about a segmenter: ``model NAME (backend, SHA-256 of its weights[, of its ONNX file])``."""
    parts = [identity.get("backend") or identity.get("kind", "?")]
    if identity.get("sha256"):
        parts.append(f"weights sha256 {identity['sha256'][:12]}")
    if identity.get("onnx_sha256"):
        parts.append(f"model.onnx sha256 {identity['onnx_sha256'][:12]}")
    return f"model {identity.get('name')} ({', '.join(parts)})"
