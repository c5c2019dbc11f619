"""``vitiseg model export MODEL_DIR``: the folder's network as ``model.onnx`` for ONNX Runtime (needs ``vitiseg[train]``).

The exported graph is the network followed by its softmax over the classes: ``image`` ``(N, 3, H, W) float32`` (the
scaled network input of :func:`~.decode.network_input`; N, H and W dynamic, H and W multiples of 32) ->
``probs`` ``(N, 3, H, W) float32``. It is written with PyTorch's ``torch.export``-based exporter at **opset 18**, the
exporter's own opset, whose every operator in this network (Conv, Clip, Add, Resize, Concat, Softmax) has an ONNX
Runtime CPU kernel; ONNX Runtime fuses Conv + Clip itself at load time. BatchNorm is folded into the convolutions.

Before ``config.json`` records the file, the export is checked: ONNX Runtime and PyTorch probabilities of two probe
images of different sizes must agree within :data:`MAX_PROB_DIFF`. The full check on real photos is
``scripts/check_onnx.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..io.files import atomic_write_bytes, sha256_file
from .artifact import ONNX_FILE, PAD_MULTIPLE, ModelError, OnnxExport, load_model_config, write_model_config
from .decode import network_input

log = logging.getLogger(__name__)

OPSET = 18
MAX_PROB_DIFF = 1e-4  # largest |P_onnx - P_torch| accepted by the export's own check
PROBE_SHAPES = ((2, 96, 128), (1, 160, 64))  # (N, H, W): two batch sizes and aspect ratios


def _onnx_bytes(net, opset: int) -> bytes:
    """The network + softmax as serialised ONNX with dynamic batch, height and width (multiples of 32)."""
    import torch
    from torch.export import Dim

    class WithSoftmax(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.inner(x), dim=1)

    for name in ("onnx_ir", "onnxscript"):  # their optimisation passes log every rewrite at INFO
        logging.getLogger(name).setLevel(logging.WARNING)
    wrapped = WithSoftmax(net).eval()
    # example sizes other than 1, so that no dimension is specialised to a constant
    example = torch.zeros(2, 3, 3 * PAD_MULTIPLE, 4 * PAD_MULTIPLE)
    dims = {"x": {0: Dim("batch", min=1, max=1024), 2: PAD_MULTIPLE * Dim("h32", min=1, max=512),
                  3: PAD_MULTIPLE * Dim("w32", min=1, max=512)}}
    with torch.inference_mode(False), torch.no_grad():
        program = torch.onnx.export(wrapped, (example,), dynamo=True, opset_version=opset, input_names=["image"],
                                    output_names=["probs"], dynamic_shapes=dims, optimize=True, verbose=False)
    return program.model_proto.SerializeToString()


def _check(seg, onnx_path: Path, mean: np.ndarray, std: np.ndarray) -> float:
    """Largest |P_onnx - P_torch| over the probe images; :class:`ModelError` above :data:`MAX_PROB_DIFF`."""
    from .onnx_runtime import cpu_session

    session = cpu_session(onnx_path, threads=1)
    rng = np.random.default_rng(0)
    worst = 0.0
    for n, h, w in PROBE_SHAPES:
        x = network_input([rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)], mean, std)
        got = session.run(None, {session.get_inputs()[0].name: x})[0]
        worst = max(worst, float(np.abs(got - seg.network_probs(x)).max()))
    if worst > MAX_PROB_DIFF:
        raise ModelError(f"the ONNX export differs from PyTorch by {worst:.2e} in probability "
                         f"(limit {MAX_PROB_DIFF:.0e}); not recorded")
    return worst


def export_onnx(model_dir: str | Path, opset: int = OPSET) -> dict[str, Any]:
    """Write ``MODEL_DIR/model.onnx`` from ``model.safetensors``, check it, and record it in ``config.json``.

    Returns ``{"path", "sha256", "weights_sha256", "opset", "max_prob_diff"}``. Raises :class:`ModelError` for a
    folder that does not load or an export that does not match PyTorch.
    """
    import onnx
    import torch

    from .unet import UNetSegmenter  # PyTorch reads the weights

    d = Path(model_dir)
    seg = UNetSegmenter.load(d, device="cpu")
    data = _onnx_bytes(seg.net, opset)
    path = d / ONNX_FILE
    atomic_write_bytes(path, data)
    try:
        diff = _check(seg, path, np.asarray(seg.cfg.input_norm.mean, np.float32),
                      np.asarray(seg.cfg.input_norm.std, np.float32))
    except ModelError:
        path.unlink()
        write_model_config(d, load_model_config(d).model_copy(update={"onnx": None}))
        raise
    record = OnnxExport(sha256=sha256_file(path), weights_sha256=seg.identity["sha256"], opset=opset,
                        exporter=f"torch {torch.__version__} (torch.export), onnx {onnx.__version__}")
    write_model_config(d, load_model_config(d).model_copy(update={"onnx": record}))
    log.info("wrote %s (SHA-256 %s, opset %d); largest probability difference to PyTorch %.1e", path,
             record.sha256[:12], opset, diff)
    return {"path": str(path), "sha256": record.sha256, "weights_sha256": record.weights_sha256, "opset": opset,
            "max_prob_diff": diff}


def export_command(model_dir: Path, opset: int = OPSET) -> int:
    """``vitiseg model export``: the exit code (0 written and checked, 2 a user's mistake, said in one line)."""
    try:
        import torch  # noqa: F401
        import onnx  # noqa: F401
    except ImportError as exc:
        log.error("vitiseg model export needs PyTorch and onnx (%s): pip install 'vitiseg[train]'", exc.name)
        return 2
    if not (Path(model_dir) / "config.json").is_file():
        log.error("model folder not found: %s (expected config.json + model.safetensors)", model_dir)
        return 2
    try:
        info = export_onnx(model_dir, opset)
    except ModelError as exc:
        log.error("%s", exc)
        return 2
    print(f"{info['path']}  sha256 {info['sha256']}  opset {info['opset']}  "
          f"max |P_onnx - P_torch| {info['max_prob_diff']:.1e}")
    return 0
