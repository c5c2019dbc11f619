"""From a network's class probabilities to a class mask: the one decode path of every U-Net backend (numpy only).

A model-backed segmenter (:class:`NetworkSegmenter`) takes a colour-normalised ``(H, W, 3) uint8`` sRGB photo of any
size (normalised with the model's own ``colour_normalisation``, see :func:`vitiseg.segmentation.base.segment_photo`),
resizes it so that its long side equals ``input_long_side`` (the scale the network was trained at), pads to a
multiple of 32 by reflection, scales it to the network's input ``(x / 255 - mean) / std``, and asks its backend for
softmax probabilities (:meth:`NetworkSegmenter.network_probs`: PyTorch in :mod:`.unet`, ONNX Runtime in
:mod:`.onnx_runtime`; nothing else differs between them). It then averages mirrored passes (``flip_average``;
``flip_average_up_down`` adds the up-down and two-axis mirrors), optionally refines the probabilities by the photo's own
skin colours at the working size (``refinement``, :mod:`.refine`), resizes them back to ``(H, W)`` (bilinear) and
decodes them hierarchically (:func:`decode_probs`): background if ``P(bg) > P(skin) + P(depig)``, else depigmented if
``P(depig) / (P(skin) + P(depig)) >= depigmented_threshold`` (by hysteresis with ``depigmented_threshold_low``), else
healthy skin. Output ``(H, W) uint8`` in {0, 1, 2}.

This module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..config import NormaliseConfig
from .artifact import PAD_MULTIPLE, ModelConfig
from .refine import refine_probs

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


def network_input(imgs: list[np.ndarray], mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Equally shaped ``(Hp, Wp, 3) uint8`` images -> the network's ``(N, 3, Hp, Wp) float32`` input,
    ``(x / 255 - mean) / std`` per channel (the same bits for every backend)."""
    x = np.stack(imgs).astype(np.float32) / 255.0
    x = (x - mean) / std
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


class NetworkSegmenter:
    """A model folder's network behind the :class:`~.base.Segmenter` contract; subclasses supply
    :meth:`network_probs` (the backend), this class everything else (see the module doc).

    ``identity`` = ``{"name", "kind": "unet", "backend", "sha256" (of model.safetensors), "encoder", "path", ...}``.
    """

    def __init__(self, cfg: ModelConfig, identity: dict) -> None:
        self.cfg = cfg
        self.identity = identity
        self._mean = np.asarray(cfg.input_norm.mean, dtype=np.float32)
        self._std = np.asarray(cfg.input_norm.std, dtype=np.float32)

    @property
    def colour_normalisation(self) -> NormaliseConfig:
        """The normalisation the network was trained with: photos get it before :meth:`predict`."""
        return self.cfg.colour_normalisation

    def network_probs(self, x: np.ndarray) -> np.ndarray:
        """``(N, 3, Hp, Wp) float32`` network input -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        raise NotImplementedError

    def _probs(self, padded: list[np.ndarray]) -> np.ndarray:
        """``N`` equally shaped padded images -> ``(N, 3, Hp, Wp) float32`` softmax probabilities."""
        return self.network_probs(network_input(padded, self._mean, self._std))

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
