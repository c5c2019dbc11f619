"""The segmenter contract and the one path every photo takes through it.

Every pixel is background (0), healthy skin (1) or depigmented skin (2); depigmented skin is skin.

A :class:`Segmenter` names the colour normalisation its input needs (``colour_normalisation``: a U-Net the one it was
trained with, from its ``config.json``; the classical baseline the run config's ``normalise`` section) and labels a
normalised photo (``predict``). :func:`segment_photo` is the single route from a decoded photo to its class mask,
used by ``vitiseg run``, ``vitiseg segment``, ``vitiseg evaluate`` and training validation alike: resize to the working
size, normalise with the segmenter's own settings, predict. So a photo gets the same mask whichever command measures it.

A photo whose colours were corrected with a colour chart (:mod:`vitiseg.calibration`) still gets the segmenter's own
normalisation afterwards: the network learnt from shades-of-grey-normalised photos, so that is the input it knows; the
chart makes the normalisation's input the same whatever the light was (its exposure included, which shades of grey
keeps). Pixels of references in the photo (``exclude``: the chart card, scale markers) are left out of the illuminant
estimate and labelled background.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

from ..colour import normalise
from ..config import NormaliseConfig
from ..io.images import resize_long_side

BACKGROUND, SKIN, DEPIGMENTED = 0, 1, 2


class Segmenter(Protocol):
    """Anything that turns a colour-normalised photo into a class mask."""

    identity: dict
    colour_normalisation: NormaliseConfig

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """``(H, W, 3) uint8`` sRGB, normalised with ``colour_normalisation`` -> ``(H, W) uint8`` classes {0, 1, 2}."""
        ...


@dataclass
class Segmentation:
    """One photo through :func:`segment_photo`.

    ``rgb``: ``(h, w, 3) uint8`` sRGB at the working size, as taken (not normalised; for overlays and landmarks).
    ``normalised``: the same after the segmenter's colour normalisation. ``classes``: ``(h, w) uint8`` in {0, 1, 2}. ``ambiguous``: ``(h, w) bool`` skin pixels whose depigmented share lies
    near the decision threshold (segmenters that report it), else None. ``seconds``: wall time of ``normalise`` and
    ``segment``; ``cpu_seconds``: the same stages' CPU time in the calling thread.
    """

    rgb: np.ndarray
    normalised: np.ndarray
    classes: np.ndarray
    ambiguous: np.ndarray | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)


def segment_photo(rgb: np.ndarray, segmenter: Segmenter, work_long_side: int,
                  exclude: np.ndarray | None = None) -> Segmentation:
    """Resize ``rgb`` (``(H, W, 3) uint8`` sRGB) so its long side is at most ``work_long_side`` (0: as is), normalise it
    with the segmenter's ``colour_normalisation`` and label it. Classes are at the working size.

    ``exclude``: optional ``(H, W) bool`` pixels that are not the patient (colour chart, markers): left out of the
    illuminant estimate, and background in the classes."""
    work = resize_long_side(rgb, work_long_side)
    if exclude is not None and exclude.shape != work.shape[:2]:
        exclude = cv2.resize(exclude.astype(np.uint8), work.shape[1::-1], interpolation=cv2.INTER_NEAREST) > 0
    t, c = time.perf_counter(), time.thread_time()
    norm = normalise(work, segmenter.colour_normalisation, None if exclude is None else ~exclude)
    t_norm, c_norm = time.perf_counter() - t, time.thread_time() - c
    t, c = time.perf_counter(), time.thread_time()
    ambiguous = None
    if hasattr(segmenter, "predict_with_ambiguity"):
        classes, ambiguous = segmenter.predict_with_ambiguity(norm)
    else:
        classes = segmenter.predict(norm)
    if exclude is not None:
        classes = np.where(exclude, np.uint8(BACKGROUND), classes)
        ambiguous = None if ambiguous is None else ambiguous & ~exclude
    return Segmentation(work, norm, classes, ambiguous, {"normalise": t_norm, "segment": time.perf_counter() - t},
                        {"normalise": c_norm, "segment": time.thread_time() - c})
