"""The PyTorch backend of a U-Net model folder (``vitiseg[train]``): ``model.safetensors`` run by PyTorch.

:class:`UNetSegmenter` supplies the network's probabilities; everything around them (working size, padding, input
scaling, flip averaging, refinement, resize, decoding, the ambiguity map) is the shared path of
:class:`~.decode.NetworkSegmenter`, the same for the ONNX Runtime backend (:mod:`.onnx_runtime`). Training validation
and the ONNX export use this backend. On CPU the result is deterministic for a fixed thread count (no random ops,
deterministic algorithms requested).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .artifact import ModelConfig, ModelError, build_network, load_model_config, model_identity, weights_path
from .decode import NetworkSegmenter

log = logging.getLogger(__name__)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but CUDA is not available")
    return torch.device(device)


class UNetSegmenter(NetworkSegmenter):
    """A loaded U-Net model folder run by PyTorch (``identity["backend"] == "torch"`` when loaded from a folder)."""

    def __init__(self, net: torch.nn.Module, cfg: ModelConfig, identity: dict, device: torch.device) -> None:
        super().__init__(cfg, identity)
        self.net = net
        self.device = device

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto") -> "UNetSegmenter":
        """Load strictly: config.json validated, every tensor present with the right shape (``strict=True``)."""
        from safetensors.torch import load_file

        d = Path(model_dir)
        wpath = weights_path(d)
        cfg = load_model_config(d)
        net = build_network(cfg.architecture)
        try:
            sd = load_file(str(wpath))
        except Exception as exc:  # safetensors raises several types for corrupt files
            raise ModelError(f"cannot read weights {wpath}: {exc}") from exc
        sd = {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}
        try:
            net.load_state_dict(sd, strict=True)
        except RuntimeError as exc:
            raise ModelError(f"weights in {wpath} do not match config.json: {exc}") from None
        dev = _resolve_device(device)
        net.to(dev).eval()
        log.info("loaded U-Net %s (%s) from %s on %s (PyTorch)", cfg.name, cfg.architecture.encoder, d, dev)
        return cls(net, cfg, model_identity(cfg, d, "torch"), dev)

    @torch.inference_mode()
    def network_probs(self, x: np.ndarray) -> np.ndarray:
        """``(N, 3, Hp, Wp) float32`` network input -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        prev = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            logits = self.net(torch.from_numpy(x).to(self.device))
        finally:
            torch.use_deterministic_algorithms(prev)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()
