"""Calibration of one photo of ``vitiseg run``: its colour chart and scale markers, what they change, and its
photos.csv columns.

Order in the pipeline (:func:`vitiseg.pipeline.photo.process_photo`): read -> :func:`calibrate_photo` (chart found:
colours corrected to the chart's reference; markers found: pixels per cm) ->
:func:`vitiseg.segmentation.base.segment_photo` on the corrected photo with the chart card and the markers excluded
(left out of skin and of the illuminant estimate) -> :meth:`PhotoCalibration.columns` with the measured masks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..colour import ita_degrees, rgb_to_lab
from ..config import CalibrationConfig, NormaliseConfig
from .chart import ChartResult, chart_region, measure_chart
from .scale import ScaleResult, area_cm2, find_markers, marker_region

#: photos.csv columns added by calibration (empty when not measured)
CALIBRATION_COLUMNS = [
    "chart", "chart_patches", "chart_correction", "chart_de00_before", "chart_de00_after", "normalisation",
    "markers", "px_per_cm", "skin_cm2", "depigmented_cm2", "skin_L", "skin_ita", "hand_unit_cm2",
]
MIN_HEALTHY_PX = 200  # fewer healthy-skin pixels than this: no skin colour is reported


@dataclass
class PhotoCalibration:
    """One photo's references. ``rgb``: ``(H, W, 3) uint8`` sRGB, colour-corrected when a chart was accepted, else
    as taken. ``exclude``: ``(H, W) bool`` chart card and marker stickers (None when there are none)."""

    rgb: np.ndarray
    exclude: np.ndarray | None
    chart: ChartResult
    scale: ScaleResult

    def columns(self, classes: np.ndarray, area: np.ndarray | None, normalisation: NormaliseConfig
                ) -> dict[str, Any]:
        """photos.csv values: chart status and correction, the segmenter's normalisation, markers and px per cm, skin
        and depigmented cm2 (when a scale is known), healthy-skin L* and ITA of the colour-referenced photo.

        ``classes``: ``(H, W) uint8`` {0, 1, 2}; ``area``: ``(H, W) bool`` counted area (the facial area of a face
        photo) or None for the whole photo."""
        ch = self.chart
        corrected = ch.correction is not None
        norm = normalisation.method + (f" p={normalisation.minkowski_p:g}"
                                       if normalisation.method == "shades_of_grey" else "")
        out: dict[str, Any] = {
            "chart": ch.status, "chart_patches": ch.n_usable if corrected else "",
            "chart_correction": ch.correction.describe() if corrected else "",
            "chart_de00_before": round(ch.de00_before, 3) if corrected else "",
            "chart_de00_after": round(ch.de00_after, 3) if corrected else "",
            "normalisation": norm, "markers": self.scale.status,
        }
        counted = classes > 0 if area is None else (classes > 0) & area
        if np.isfinite(self.scale.px_per_cm):
            ppc = self.scale.px_per_cm
            out.update(px_per_cm=round(ppc, 4), skin_cm2=round(area_cm2(counted.sum(), ppc), 3),
                       depigmented_cm2=round(area_cm2((counted & (classes == 2)).sum(), ppc), 3))
        healthy = counted & (classes == 1)
        if healthy.sum() >= MIN_HEALTHY_PX:
            lab = rgb_to_lab(self.rgb[healthy])
            L, b = float(np.median(lab[:, 0])), float(np.median(lab[:, 2]))
            out.update(skin_L=round(L, 3), skin_ita=round(ita_degrees(L, b), 3))
        return out


def calibrate_photo(rgb: np.ndarray, cfg: CalibrationConfig) -> PhotoCalibration:
    """Find the colour chart and the markers of ``rgb`` (``(H, W, 3) uint8`` sRGB, at the working size) and correct
    its colours when a chart is accepted."""
    chart = measure_chart(rgb, cfg.chart) if cfg.chart.detect else ChartResult("off")
    scale = find_markers(rgb, cfg.marker)
    exclude = None
    if chart.homography is not None:
        exclude = chart_region(chart.homography, rgb.shape[:2])
    if len(scale.ids):
        m = marker_region(scale.corners, rgb.shape[:2], cfg.marker.margin)
        exclude = m if exclude is None else exclude | m
    corrected = chart.correction.apply(rgb) if chart.correction is not None else rgb
    return PhotoCalibration(corrected, exclude, chart, scale)
