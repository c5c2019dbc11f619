"""Change map of one aligned pair: where the skin repigmented, newly depigmented, or stayed as it was.

Codes of a change map ``(H, W) uint8`` in the baseline photo's frame (``changes/<follow-up path>.png``):

* 0 not compared: not skin at baseline or at the follow-up, outside the follow-up photo's view, or (faces) outside the
  baseline's facial area;
* 1 stable skin (healthy at both); 2 stable depigmented (depigmented at both);
* 3 repigmented (depigmented at baseline, healthy skin at the follow-up);
* 4 newly depigmented (healthy at baseline, depigmented at the follow-up).

Areas: ``repigmented_pct_of_baseline`` = 100 x repigmented / baseline depigmented (codes 2 + 3) and
``new_pct_of_baseline`` likewise for code 4; ``*_pct_of_skin`` = 100 x px / compared skin (codes 1-4).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ..io.images import resize_long_side

NOT_COMPARED, STABLE_SKIN, STABLE_DEPIGMENTED, REPIGMENTED, NEW_DEPIGMENTED = 0, 1, 2, 3, 4
CHANGE_LABELS = {STABLE_SKIN: "stable skin", STABLE_DEPIGMENTED: "stable depigmented", REPIGMENTED: "repigmented",
                 NEW_DEPIGMENTED: "newly depigmented"}
CHANGE_RGB = {STABLE_DEPIGMENTED: (255, 255, 255), REPIGMENTED: (0, 200, 80), NEW_DEPIGMENTED: (230, 30, 40)}
AREA_COLUMNS = ["compared_skin_px", "baseline_depigmented_px", "stable_skin_px", "stable_depigmented_px",
                "repigmented_px", "new_depigmented_px", "repigmented_pct_of_baseline", "new_pct_of_baseline",
                "repigmented_pct_of_skin", "new_pct_of_skin"]


def change_codes(base_cls: np.ndarray, fu_cls: np.ndarray, compared: np.ndarray) -> np.ndarray:
    """Change map (codes above) from two class masks in the same frame.

    ``base_cls`` / ``fu_cls`` (H,W) uint8 in {0 background, 1 skin, 2 depigmented skin} (the follow-up already
    warped to the baseline); ``compared`` (H,W) bool: where the pair is compared (visible, within the domain).
    """
    cmp = compared & (base_cls > 0) & (fu_cls > 0)
    b, f = base_cls == 2, fu_cls == 2
    codes = np.zeros(base_cls.shape, np.uint8)
    codes[cmp & ~b & ~f] = STABLE_SKIN
    codes[cmp & b & f] = STABLE_DEPIGMENTED
    codes[cmp & b & ~f] = REPIGMENTED
    codes[cmp & ~b & f] = NEW_DEPIGMENTED
    return codes


def _pct(num: int, den: int) -> float:
    return 100.0 * num / den if den else float("nan")


def change_areas(codes: np.ndarray) -> dict[str, Any]:
    """Pixel counts and percentages of a change map (:data:`AREA_COLUMNS`; NaN where a denominator is 0)."""
    n = np.bincount(codes.ravel(), minlength=5)
    skin = int(n[1:5].sum())
    base = int(n[STABLE_DEPIGMENTED] + n[REPIGMENTED])
    rep, new = int(n[REPIGMENTED]), int(n[NEW_DEPIGMENTED])
    return {"compared_skin_px": skin, "baseline_depigmented_px": base, "stable_skin_px": int(n[STABLE_SKIN]),
            "stable_depigmented_px": int(n[STABLE_DEPIGMENTED]), "repigmented_px": rep, "new_depigmented_px": new,
            "repigmented_pct_of_baseline": _pct(rep, base), "new_pct_of_baseline": _pct(new, base),
            "repigmented_pct_of_skin": _pct(rep, skin), "new_pct_of_skin": _pct(new, skin)}


def change_overlay(base_rgb: np.ndarray, codes: np.ndarray, long_side: int) -> np.ndarray:
    """The baseline photo ``(H,W,3) uint8`` sRGB with the change map painted on it and a legend strip below.

    Not compared: dimmed; stable skin: as photographed; stable depigmented: whitened; repigmented: green;
    newly depigmented: red. Output ``(h + legend, w, 3) uint8``, image part with long side <= ``long_side``; the
    image part has the aspect of the baseline photo, so a box in the change map scales onto it.
    """
    img = resize_long_side(base_rgb, long_side)
    h, w = img.shape[:2]
    c = cv2.resize(codes, (w, h), interpolation=cv2.INTER_NEAREST)
    out = img.astype(np.float32)
    out[c == NOT_COMPARED] *= 0.45
    for code, rgb in CHANGE_RGB.items():
        sel = c == code
        out[sel] = 0.45 * out[sel] + 0.55 * np.array(rgb, np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    thick = max(1, round(max(h, w) / 700))
    for code, rgb in CHANGE_RGB.items():
        contours, _ = cv2.findContours((c == code).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, rgb if code != STABLE_DEPIGMENTED else (255, 0, 255), thick)
    return np.concatenate([out, legend_strip(w)], 0)


def legend_strip(width: int) -> np.ndarray:
    """A white ``(rows, width, 3) uint8`` strip naming the colours of :func:`change_overlay`."""
    scale = max(0.35, min(1.0, width / 1400))
    row_h = int(28 * scale) + 6
    items = [(CHANGE_RGB[k], CHANGE_LABELS[k]) for k in (REPIGMENTED, NEW_DEPIGMENTED, STABLE_DEPIGMENTED)]
    items.append(((115, 115, 115), "not compared"))
    strip = np.full((row_h * 2, width, 3), 255, np.uint8)
    x, y = 6, 4
    for rgb, text in items:
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, 1)
        if x + th + tw + 20 > width and x > 6:
            x, y = 6, y + row_h
        cv2.rectangle(strip, (x, y), (x + th + 4, y + th + 4), rgb, -1)
        cv2.rectangle(strip, (x, y), (x + th + 4, y + th + 4), (60, 60, 60), 1)
        cv2.putText(strip, text, (x + th + 10, y + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.7 * scale, (30, 30, 30), 1,
                    cv2.LINE_AA)
        x += th + tw + 30
    return strip
