"""The ONNX Runtime backend of a U-Net model folder (the base install: no PyTorch).

:class:`OnnxSegmenter` runs the folder's ``model.onnx`` (written by ``vitiseg model export``: the network and its
softmax, dynamic batch, height and width) on ONNX Runtime's CPU execution provider and supplies its probabilities to
the shared decode path of :class:`~.decode.NetworkSegmenter`, the same as the PyTorch backend (:mod:`.unet`).

Loading checks the file against ``config.json["onnx"]``: its SHA-256, and that it was exported from the folder's
``model.safetensors`` (so weights changed after an export are never run through a stale ONNX file).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..io.files import sha256_file
from .artifact import ONNX_FILE, ModelConfig, ModelError, load_model_config, model_identity
from .decode import NetworkSegmenter

log = logging.getLogger(__name__)


def has_onnx(model_dir: str | Path) -> bool:
    """True when the folder's ``config.json`` records an ONNX export and ``model.onnx`` is there."""
    d = Path(model_dir)
    return (d / ONNX_FILE).is_file() and load_model_config(d).onnx is not None


def cpu_session(path: str | Path, threads: int):  # -> onnxruntime.InferenceSession
    """An ONNX Runtime session on the CPU execution provider with ``threads`` intra-op threads (0: ONNX Runtime's
    default, one per core), no inter-op parallelism (the network is a chain) and every graph optimisation."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(0, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only: no start-up chatter on the console
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


class OnnxSegmenter(NetworkSegmenter):
    """A U-Net model folder run by ONNX Runtime (``identity["backend"] == "onnx"``, ``identity["onnx_sha256"]``)."""

    thread_safe = True  # photos may be measured in several threads at once (vitiseg.pipeline.threads)

    def __init__(self, session, cfg: ModelConfig, identity: dict) -> None:
        super().__init__(cfg, identity)
        self.session = session
        self._input = session.get_inputs()[0].name

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto", threads: int = 0) -> "OnnxSegmenter":
        """Load ``MODEL_DIR/model.onnx`` after checking it against ``config.json``; ``threads``: intra-op threads
        (0: one per core). Only the CPU is used: ``device="cuda"`` is a :class:`ModelError` (the PyTorch backend runs
        on CUDA)."""
        if device == "cuda":
            raise ModelError("the ONNX Runtime backend runs on the CPU; for CUDA use --backend torch "
                             "(pip install 'vitiseg[train]')")
        d = Path(model_dir)
        cfg = load_model_config(d)
        path = d / ONNX_FILE
        if cfg.onnx is None:
            raise ModelError(f"{d / 'config.json'} records no ONNX export; run: vitiseg model export {d}")
        if not path.is_file():
            raise ModelError(f"ONNX file not found: {path} (config.json records one; run: vitiseg model export {d})")
        sha = sha256_file(path)
        if sha != cfg.onnx.sha256:
            raise ModelError(f"{path} has SHA-256 {sha[:12]}..., config.json records {cfg.onnx.sha256[:12]}...; "
                             f"re-export it: vitiseg model export {d}")
        identity = model_identity(cfg, d, "onnx")
        if identity["sha256"] != cfg.onnx.weights_sha256:
            raise ModelError(f"{path} was exported from other weights than {d / 'model.safetensors'}; "
                             f"re-export it: vitiseg model export {d}")
        try:
            session = cpu_session(path, threads)
        except Exception as exc:  # onnxruntime raises its own exception types for unreadable graphs
            raise ModelError(f"ONNX Runtime cannot load {path}: {exc}") from None
        log.info("loaded U-Net %s (%s) from %s (ONNX Runtime, CPU)", cfg.name, cfg.architecture.encoder, path)
        return cls(session, cfg, identity)

    def network_probs(self, x: np.ndarray) -> np.ndarray:
        """``(N, 3, Hp, Wp) float32`` network input -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        return self.session.run(None, {self._input: x})[0]
