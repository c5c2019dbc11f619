"""U-Net inference (the learned segmenter): a loaded model folder behind the :class:`~.base.Segmenter` contract.

:class:`UNetSegmenter` takes a colour-normalised ``(H, W, 3) uint8`` sRGB photo of any size (normalised with the
model's own ``colour_normalisation``, see :func:`vitiseg.segmentation.base.segment_photo`), resizes it so that its
long side equals ``input_long_side`` (the scale the network was trained at), pads to a multiple of 32 by reflection,
runs the network, optionally refines the probabilities by the photo's own skin colours at the working size
(``refinement`` in config.json, :mod:`.refine`), resizes them back to ``(H, W)`` (bilinear) and decodes them
hierarchically (:func:`decode_probs`): background if ``P(bg) > P(skin) + P(depig)``, else depigmented if
``P(depig) / (P(skin) + P(depig)) >= depigmented_threshold``, else healthy skin. Output ``(H, W) uint8`` in {0, 1, 2}.
Optional settings of ``config.json``: ``flip_average`` (probabilities = mean over the working image and its
left-right mirror; ``flip_average_up_down`` adds the up-down and two-axis mirrors) and ``depigmented_threshold_low``
(hysteresis decode).
On CPU the result is deterministic for a fixed thread count (no random ops, deterministic algorithms requested).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from ..config import NormaliseConfig
from ..io.files import sha256_file
from .artifact import PAD_MULTIPLE, ModelConfig, ModelError, build_network, load_model_config
from .refine import refine_probs

log = logging.getLogger(__name__)


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("device 'cuda' requested but CUDA is not available")
    return torch.device(device)


AMBIGUOUS_LOW, AMBIGUOUS_HIGH = 0.25, 0.75  # depigmented-share band of "uncertain" skin pixels


def resize_probs(p: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """``(3, h, w)`` probabilities -> ``(3, H, W)`` (bilinear per class; returned as is when the size matches)."""
    H, W = shape
    if p.shape[1:] == (H, W):
        return p
    return np.stack([cv2.resize(c, (W, H), interpolation=cv2.INTER_LINEAR) for c in p])


def decode_probs(probs: np.ndarray, depigmented_threshold: float = 0.5,
                 depigmented_threshold_low: float | None = None) -> np.ndarray:
    """``(3, H, W) float`` class probabilities -> ``(H, W) uint8`` classes (hierarchical rule, see module doc).

    With ``depigmented_threshold_low`` (<= ``depigmented_threshold``), decoding is by hysteresis: a skin pixel whose
    depigmented share is >= the low threshold is depigmented when it is 8-connected, through skin pixels that also pass
    the low threshold, to a skin pixel that passes ``depigmented_threshold`` (components by
    ``cv2.connectedComponents``). ``None`` or a low equal to the threshold gives the plain rule.
    """
    p0, p1, p2 = probs[0], probs[1], probs[2]
    skin_p = p1 + p2
    skin = p0 <= skin_p
    out = np.zeros(p0.shape, dtype=np.uint8)
    out[skin] = 1
    strong = skin & (p2 >= depigmented_threshold * skin_p)
    low = depigmented_threshold_low
    if low is None or low >= depigmented_threshold or not strong.any():
        out[strong] = 2
        return out
    weak = skin & (p2 >= low * skin_p)
    n, labels = cv2.connectedComponents(weak.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    keep = np.zeros(n, dtype=bool)
    keep[labels[strong]] = True
    keep[0] = False
    out[keep[labels]] = 2
    return out


def prepare_input(rgb: np.ndarray, long_side: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Resize ``(H, W, 3) uint8`` RGB so ``max(h, w) == long_side`` (area for downscaling, bilinear for upscaling).

    Returns the resized image padded by reflection to multiples of 32, and the un-padded ``(h, w)``.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected (H, W, 3) uint8 RGB, got {rgb.shape} {rgb.dtype}")
    H, W = rgb.shape[:2]
    if H < 1 or W < 1:
        raise ValueError("empty image")
    s = long_side / max(H, W)
    h, w = max(1, int(round(H * s))), max(1, int(round(W * s)))
    if (h, w) != (H, W):
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        img = cv2.resize(rgb, (w, h), interpolation=interp)
    else:
        img = rgb
    return pad_input(img), (h, w)


def pad_input(img: np.ndarray) -> np.ndarray:
    """``(h, w, 3) uint8`` -> padded at the bottom and right to multiples of 32 (reflect-101; replicate when too
    small to reflect)."""
    h, w = img.shape[:2]
    ph = (-h) % PAD_MULTIPLE
    pw = (-w) % PAD_MULTIPLE
    if ph or pw:
        mode = cv2.BORDER_REFLECT_101 if min(h, w) > 1 else cv2.BORDER_REPLICATE
        if ph >= h or pw >= w:
            mode = cv2.BORDER_REPLICATE
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, mode)
    return np.ascontiguousarray(img)


class UNetSegmenter:
    """A loaded U-Net model folder behind the :class:`~.base.Segmenter` contract.

    ``identity`` = ``{"name", "kind": "unet", "sha256" (of model.safetensors), "encoder", "path", ...}``.
    """

    def __init__(self, net: torch.nn.Module, cfg: ModelConfig, identity: dict, device: torch.device) -> None:
        self.net = net
        self.cfg = cfg
        self.identity = identity
        self.device = device
        mean = np.asarray(cfg.input_norm.mean, dtype=np.float32)
        std = np.asarray(cfg.input_norm.std, dtype=np.float32)
        self._mean, self._std = mean, std

    @property
    def colour_normalisation(self) -> NormaliseConfig:
        """The normalisation the network was trained with: photos get it before :meth:`predict`."""
        return self.cfg.colour_normalisation

    @classmethod
    def load(cls, model_dir: str | Path, device: str = "auto") -> "UNetSegmenter":
        """Load strictly: config.json validated, every tensor present with the right shape (``strict=True``)."""
        from safetensors.torch import load_file

        d = Path(model_dir)
        wpath = d / "model.safetensors"
        if not wpath.is_file():
            raise ModelError(f"model weights not found: {wpath}")
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
        identity = {
            "name": cfg.name,
            "kind": "unet",
            "sha256": sha256_file(wpath),
            "encoder": cfg.architecture.encoder,
            "path": str(d.resolve()),
            "input_long_side": cfg.input_long_side,
            "depigmented_threshold": cfg.depigmented_threshold,
            "refinement": cfg.refinement.model_dump() if cfg.refinement is not None else None,
        }
        # only when set: run folders of artifacts without them keep their resume key
        if cfg.depigmented_threshold_low is not None:
            identity["depigmented_threshold_low"] = cfg.depigmented_threshold_low
        if cfg.flip_average:
            identity["flip_average"] = True
        if cfg.flip_average_up_down:
            identity["flip_average_up_down"] = True
        log.info("loaded U-Net %s (%s) from %s on %s", cfg.name, cfg.architecture.encoder, d, dev)
        return cls(net, cfg, identity, dev)

    def _to_tensor(self, imgs: list[np.ndarray]) -> torch.Tensor:
        x = np.stack(imgs).astype(np.float32) / 255.0
        x = (x - self._mean) / self._std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(self.device)

    @torch.inference_mode()
    def _probs(self, padded: list[np.ndarray]) -> np.ndarray:
        """``N`` equally shaped padded images -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        prev = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            logits = self.net(self._to_tensor(padded))
        finally:
            torch.use_deterministic_algorithms(prev)
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def _working_probs(self, prepared: list[tuple[np.ndarray, tuple[int, int]]]) -> list[np.ndarray]:
        """Equally shaped padded working images with their un-padded ``(h, w)`` -> each one's ``(3, h, w) float32``
        network probabilities; with ``flip_average`` the mean of the image's and of its left-right mirror's (and, with
        ``flip_average_up_down``, of its up-down and two-axis mirrors'): each mirror padded the same way, its
        probabilities mirrored back."""
        probs = self._probs([img for img, _ in prepared])
        out = [p[:, :h, :w] for p, (_, (h, w)) in zip(probs, prepared)]
        if not self.cfg.flip_average:
            return out
        flips = [(slice(None), slice(None, None, -1))]  # (rows, columns) of each mirror image
        if self.cfg.flip_average_up_down:
            flips += [(slice(None, None, -1), slice(None)), (slice(None, None, -1), slice(None, None, -1))]
        for rows, cols in flips:
            m = self._probs([pad_input(img[:h, :w][rows, cols]) for img, (h, w) in prepared])
            out = [o + mi[:, :h, :w][:, rows, cols] for o, mi, (_, (h, w)) in zip(out, m, prepared)]
        return [o / (1 + len(flips)) for o in out]

    def _refine(self, img: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Working-size ``(3, h, w)`` probabilities of the un-padded working image ``img`` -> refined (or as is)."""
        if self.cfg.refinement is None:
            return p
        return refine_probs(img, p, self.cfg.refinement)[0]

    def _finish(self, probs: np.ndarray, img: np.ndarray, hw: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
        """``(3, h, w)`` working-size probabilities of the padded working image ``img`` -> ``shape`` classes."""
        h, w = hw
        p = self._refine(np.ascontiguousarray(img[:h, :w]), probs)
        return decode_probs(resize_probs(p, shape), self.cfg.depigmented_threshold, self.cfg.depigmented_threshold_low)

    def predict_probs(self, rgb: np.ndarray, long_side: int | None = None, refine: bool = True) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB (colour-normalised) -> ``(3, H, W) float32`` class probabilities.

        ``long_side``: working size for this call instead of the artifact's ``input_long_side`` (for experiments with
        the inference scale; the pipeline always uses the artifact's). ``refine``: apply the artifact's colour
        refinement (if it has one); False gives the network's own probabilities.
        """
        img, (h, w) = prepare_input(rgb, long_side or self.cfg.input_long_side)
        p = self._working_probs([(img, (h, w))])[0]
        if refine:
            p = self._refine(np.ascontiguousarray(img[:h, :w]), p)
        return resize_probs(p, rgb.shape[:2])

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` RGB, already colour-normalised -> ``(H, W) uint8`` classes {0, 1, 2}."""
        return self.predict_batch([rgb])[0]

    def predict_with_ambiguity(self, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Classes (identical to :meth:`predict`) and an ``(H, W) bool`` map of *ambiguous* skin pixels: classified
        skin whose depigmented share P(depig) / (P(skin) + P(depig)) lies strictly between 0.25 and 0.75, taken from
        the network's own probabilities (flip-averaged with ``flip_average``; before any colour refinement, which moves
        pixels by colour, not by the network's confidence; the skin/background decision, and so this map, is the same
        with or without it).

        How well the share of ambiguous skin predicts the error of a photo's depigmented fraction is measured by
        ``scripts/uncertainty_calibration.py`` (model card, "Uncertainty flag").
        """
        img, (h, w) = prepare_input(rgb, self.cfg.input_long_side)
        raw = self._working_probs([(img, (h, w))])[0]
        net = resize_probs(raw, rgb.shape[:2])
        final = net if self.cfg.refinement is None else resize_probs(
            self._refine(np.ascontiguousarray(img[:h, :w]), raw), rgb.shape[:2])
        classes = decode_probs(final, self.cfg.depigmented_threshold, self.cfg.depigmented_threshold_low)
        ratio = net[2] / np.maximum(net[1] + net[2], 1e-12)
        return classes, (classes >= 1) & (ratio > AMBIGUOUS_LOW) & (ratio < AMBIGUOUS_HIGH)

    def predict_batch(self, rgbs: list[np.ndarray], batch_size: int = 8) -> list[np.ndarray]:
        """Several photos of any sizes; those with the same working shape share a forward pass.

        Results are identical to calling :meth:`predict` on each photo (no cross-photo padding).
        """
        prepared = [prepare_input(r, self.cfg.input_long_side) for r in rgbs]
        out: list[np.ndarray | None] = [None] * len(rgbs)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (img, _) in enumerate(prepared):
            groups.setdefault(img.shape[:2], []).append(i)
        for idx in groups.values():
            for s in range(0, len(idx), batch_size):
                chunk = idx[s : s + batch_size]
                probs = self._working_probs([prepared[i] for i in chunk])
                for j, i in enumerate(chunk):
                    out[i] = self._finish(probs[j], prepared[i][0], prepared[i][1], rgbs[i].shape[:2])
        return [o for o in out if o is not None]
