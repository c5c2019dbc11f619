"""Evaluation of a segmenter against ground-truth masks (``vitiseg evaluate``).

Any segmenter (the shipped U-Net, a model folder, or the ``classical`` baseline) is built by
:func:`vitiseg.segmentation.load.load_segmenter` and run exactly as the pipeline runs it: photo read as RGB uint8,
then :func:`vitiseg.segmentation.base.segment_photo` (working size of the run config, the segmenter's own colour
normalisation). Predictions are compared at the mask's resolution (nearest-neighbour when the working size is smaller).

Ground truth (``--mask-kind``):

- ``classes``: ``(H, W) uint8`` 0/1/2 (background / healthy skin / depigmented skin), e.g. ``vitiseg synth dataset``.
- ``lesion``: 0/255, 255 = depigmented lesion; the rest is unknown skin-or-background (skin metrics not computed).
- ``skin``: 0/255, 255 = skin of photos *without* vitiligo (the true depigmented fraction is 0).

Metrics (depigmented = class 2; skin = classes 1 and 2):

- Dice = 2TP / (2TP + FP + FN), IoU = TP / (TP + FP + FN), per image and *pooled* (TP/FP/FN summed over images).
- **No-lesion convention**: when ground truth and prediction are both empty, Dice = IoU = 1 (nothing to find, nothing
  found); when only one is empty, Dice = IoU = 0. ``mean_dice_lesion_images`` averages only images whose ground truth
  contains the class, and ``n_empty_gt_with_fp`` counts lesion-free images with any false-positive pixel.
- Depigmented fraction = #2 / (#1 + #2) (undefined, and excluded, when an image has no skin). Absolute error per image;
  calibration = least-squares line ``pred = a * true + b``, mean signed error, MAE, RMSE and binned means.
- Skin tone: ITA in degrees (:func:`vitiseg.colour.skin_ita`, Chardon 1991) of the median L*, b* of the
  reference healthy skin of the colour-normalised photo: ground-truth class 1 (``classes``), ground-truth skin
  (``skin``), or a 3-15 px ring around the lesions (``lesion``, model-independent). Images are split into tertiles of
  ITA (T1 = lowest ITA = darkest); the *gap* is max - min of the pooled Dice over tertiles.
- **Where the depigmented errors are** (``classes`` and ``lesion`` masks): false negatives within ``EDGE_PX`` (2 px,
  exact Euclidean distance) of the true lesion border (*edge*, outlines drawn a little tight) versus deeper inside
  (*core*, lesions or lesion interiors missed); false positives within ``EDGE_PX`` outside a true lesion (*edge*)
  versus farther away (*far*, false alarms); for ``classes`` masks also what the missed pixels were called (skin or
  background). Lesions (8-connected components) of the truth with no predicted pixel are *missed*, predicted ones
  touching no true lesion are *false*. Pooled as shares of all FN / FP pixels and of all lesions.

- **Strata** (``--groups CSV --group-by COL[,COL]``, e.g. the ``index.csv`` of ``vitiseg synth dataset`` with its
  ``set`` (background photo set) and ``kind`` (lesion pattern) columns): the same pooled metrics per value of each
  column, plus each stratum's share of all missed (FN) and false (FP) depigmented pixels, so that an average can be
  traced to the photos behind it. Images without a label are counted under ``"(none)"``.

Writes ``OUT/per_image.csv`` and ``OUT/summary.json``; with ``worst`` > 0 (CLI ``--worst``, default 12) also
``OUT/worst.jpg``, one row per image with the most wrong pixels: photo | truth | prediction | errors drawn on the photo
(missed depigmented pixels red, false alarms blue, correct ones green), for looking at failures rather than averages.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
from tqdm import tqdm

from ..colour import skin_ita
from ..config import NormaliseConfig, SegmentationConfig, load_config
from ..io.files import atomic_write_text
from ..io.images import IMAGE_SUFFIXES, image_size, read_mask, read_rgb, write_jpeg
from ..io.tables import write_csv_rows
from ..segmentation.base import Segmenter, segment_photo
from ..segmentation.load import load_segmenter_checked
from ..usage import UsageError, require_device, require_input_dir, require_input_file, require_output_dir
from .metrics import MaskKind, fraction_calibration, image_metrics, lesion_ring, pooled
from .stratify import group_metrics, ita_tertiles, read_groups
from .worst_cases import worst_rows, worst_sheet, wrong_pixels

log = logging.getLogger(__name__)


def summarise(rows: list[dict], kind: MaskKind) -> dict[str, Any]:
    """Dataset-level metrics of per-image rows (see module doc)."""
    s: dict[str, Any] = {"n_images": len(rows), "mask_kind": kind}
    dep = pooled(rows, "depig")
    if dep and kind != "skin":
        s["depigmented"] = dep
    if kind == "skin" and dep:
        # lesion-free photos: any depigmented prediction is a false positive
        s["depigmented_false_positive"] = {
            "n_images_with_fp": dep["n_empty_gt_with_fp"],
            "fp_pixels": int(sum(r["depig_fp"] for r in rows)),
        }
    sk = pooled(rows, "skin")
    if sk:
        s["skin"] = sk
    if any("fraction_true" in r for r in rows):
        s["fraction"] = fraction_calibration(
            [r.get("fraction_true", float("nan")) for r in rows], [r.get("fraction_pred", float("nan")) for r in rows]
        )
        s["fraction_n_undefined"] = sum(1 for r in rows if not np.isfinite(r.get("fraction_abs_err", float("nan"))))
    s["ita"] = ita_tertiles(rows, kind)
    return s


@dataclass(frozen=True)
class EvalItem:
    id: str
    image: Path
    mask: Path


def list_items(
    images: str | Path,
    masks: str | Path,
    ids: Iterable[str] | None = None,
    max_images: int | None = None,
) -> list[EvalItem]:
    """Pair ``images/<stem>.<ext>`` with ``masks/<stem>.png`` (sorted by stem), optionally restricted to ``ids``."""
    idir, mdir = Path(images), Path(masks)
    if not idir.is_dir():
        raise FileNotFoundError(f"image folder not found: {idir}")
    if not mdir.is_dir():
        raise FileNotFoundError(f"mask folder not found: {mdir}")
    wanted = set(ids) if ids is not None else None
    items = []
    for p in sorted(idir.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or (wanted is not None and p.stem not in wanted):
            continue
        m = mdir / f"{p.stem}.png"
        if not m.is_file():
            log.warning("no mask for %s; skipped", p.name)
            continue
        items.append(EvalItem(p.stem, p, m))
    if wanted is not None:
        missing = wanted - {it.id for it in items}
        if missing:
            log.warning("%d requested ids have no image+mask pair (e.g. %s)", len(missing), sorted(missing)[:3])
    return items[:max_images] if max_images else items


def read_ids(path: str | Path, split: str | None = None) -> list[str]:
    """Ids from a text file (one per line), a CSV with ``id`` (and ``split``) columns, or a ``splits.json``."""
    p = Path(path)
    if p.suffix == ".json":
        data = json.loads(p.read_text(encoding="utf-8"))
        if split is None:
            raise ValueError(f"{p}: --split is required with a splits.json ({sorted(data)})")
        if split not in data:
            raise ValueError(f"{p}: no split {split!r} (has {sorted(data)})")
        return [str(x) for x in data[split]]
    if p.suffix == ".csv":
        with p.open(newline="", encoding="utf-8") as f:
            return [str(r["id"]) for r in csv.DictReader(f) if split is None or r.get("split") == split]
    return [ln.strip() for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip()]


def evaluate_items(
    segmenter: Segmenter,
    items: list[EvalItem],
    kind: MaskKind,
    work_long_side: int | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Segment each photo as the pipeline does and compute :func:`image_metrics` + ITA against its mask.

    ``work_long_side``: working size (default: the run config's ``io.work_long_side``)."""
    work = default_work_long_side() if work_long_side is None else work_long_side
    rows = []
    for it in tqdm(items, desc="evaluate", unit="img", disable=not progress):
        rgb = read_rgb(it.image, reduce_to_long_side=work)  # as vitiseg run reads it
        gt = read_mask(it.mask)
        if gt.ndim == 3:
            gt = gt[..., 0]
        if gt.shape != image_size(it.image):
            raise ValueError(f"mask {it.mask} is {gt.shape}, image {it.image} is {image_size(it.image)}")
        if kind == "classes" and gt.max() > 2:
            raise ValueError(f"{it.mask}: values > 2 in a class mask (use --mask-kind lesion or skin for 0/255 masks)")
        rows.append(evaluate_array(segmenter, it.id, rgb, gt, kind, work))
    return rows


def default_work_long_side() -> int:
    """The working size ``vitiseg run`` uses by default (``io.work_long_side`` of the packaged run config)."""
    return load_config().io.work_long_side


def predict_at(segmenter: Segmenter, rgb: np.ndarray, shape: tuple[int, int], work_long_side: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(classes at shape, normalised working-size photo)`` of one ``(H, W, 3) uint8`` sRGB photo, segmented by
    :func:`segment_photo`; classes resized to ``shape`` with nearest-neighbour when the working size is smaller."""
    seg = segment_photo(rgb, segmenter, work_long_side)
    pred = seg.classes
    if pred.shape != shape:
        pred = cv2.resize(pred, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return pred, seg.normalised


def evaluate_array(segmenter: Segmenter, id_: str, rgb: np.ndarray, gt: np.ndarray, kind: MaskKind,
                   work_long_side: int) -> dict[str, Any]:
    """Metrics row of one ``(h, w, 3) uint8`` sRGB photo (as read, not normalised; JPEGs may be read reduced, as
    ``vitiseg run`` reads them) against its ``(H, W) uint8`` ground truth at the photo's own size. ITA is measured on
    the colour-normalised photo, on the reference skin of the truth."""
    t0 = time.perf_counter()
    pred, norm = predict_at(segmenter, rgb, gt.shape, work_long_side)
    dt = time.perf_counter() - t0
    r: dict[str, Any] = {"id": id_, "width": gt.shape[1], "height": gt.shape[0]}
    r.update(image_metrics(pred, gt, kind))
    if kind == "classes":
        ref = gt == 1
    elif kind == "skin":
        ref = gt > 127
    else:
        ref = lesion_ring(gt > 127)
    if ref.shape != norm.shape[:2]:
        ref = cv2.resize(ref.astype(np.uint8), (norm.shape[1], norm.shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    r["ita"] = skin_ita(norm, ref, min_px=50)
    r["seconds"] = dt
    return r


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}" if isinstance(x, float) else str(x)


def run_evaluation(
    model: str,
    images: str | Path,
    masks: str | Path,
    kind: MaskKind,
    out: str | Path,
    ids: list[str] | None = None,
    max_images: int | None = None,
    normalise_method: str | None = None,
    device: str = "auto",
    progress: bool = True,
    segmenter: Segmenter | None = None,
    worst: int = 0,
    groups: dict[str, dict[str, str]] | None = None,
    work_long_side: int | None = None,
) -> dict[str, Any]:
    """Evaluate ``model`` (``default`` / ``classical`` / folder) on a dataset; writes and returns ``summary.json``.

    ``normalise_method``: colour normalisation of the classical baseline (a U-Net uses its own, as in ``vitiseg run``).
    ``work_long_side``: working size (default: the run config's). ``segmenter``: an already loaded segmenter to use
    instead of loading ``model`` again. The per-image rows are
    returned under the key ``"rows"`` (not written to summary.json; they are in per_image.csv). ``worst`` > 0 also
    writes ``OUT/worst.jpg`` (:func:`worst_sheet`) and lists those images in the summary (``worst_images``).
    ``groups`` (:func:`read_groups`) adds ``metrics["groups"][column][label]`` (:func:`group_metrics`).
    """
    norm_cfg = NormaliseConfig(method=normalise_method) if normalise_method else NormaliseConfig()
    seg = segmenter if segmenter is not None else load_segmenter_checked(
        SegmentationConfig(model=model, device=device), norm_cfg)
    work = default_work_long_side() if work_long_side is None else work_long_side
    items = list_items(images, masks, ids, max_images)
    if not items:
        raise UsageError(f"no image/mask pairs found in {images} and {masks} (images/<stem>.<ext> with "
                         "masks/<stem>.png)")
    t0 = time.time()
    rows = evaluate_items(seg, items, kind, work, progress=progress)
    summary = {
        "model": seg.identity,
        "images": str(Path(images).resolve()),
        "masks": str(Path(masks).resolve()),
        "mask_kind": kind,
        "normalise": seg.colour_normalisation.model_dump(),
        "work_long_side": work,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds_total": time.time() - t0,
        "seconds_per_image_mean": float(np.mean([r["seconds"] for r in rows])),
        "conventions": {
            "empty_gt_and_empty_pred": "dice = iou = 1",
            "empty_gt_nonempty_pred_or_reverse": "dice = iou = 0",
            "pooled": "TP/FP/FN summed over images, then Dice/IoU",
            "fraction": "#2/(#1+#2); undefined (excluded) when no skin; skin masks of lesion-free photos: true = 0",
            "ita": "degrees, median L*/b* of reference healthy skin of the colour-normalised photo; T1 = darkest",
        },
        "metrics": summarise(rows, kind),
    }
    if groups:
        summary["metrics"]["groups"] = {col: group_metrics(rows, lab, kind) for col, lab in groups.items()}
    if worst > 0:
        summary["worst_images"] = [
            {"id": r["id"], "wrong_px": wrong_pixels(r, kind)} for r in worst_rows(rows, kind, worst)
        ]
    o = Path(out)
    o.mkdir(parents=True, exist_ok=True)
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    write_csv_rows([{k: _csv_val(r.get(k)) for k in keys} for r in rows], keys, o / "per_image.csv")
    atomic_write_text(o / "summary.json", json.dumps(summary, indent=2, default=_json_default) + "\n")
    sheet = worst_sheet(seg, items, rows, kind, work, worst) if worst > 0 else None
    if sheet is not None:
        write_jpeg(o / "worst.jpg", sheet, quality=85)
    else:
        (o / "worst.jpg").unlink(missing_ok=True)  # never leave a sheet from an earlier run beside this summary
    return {**summary, "rows": rows}


def _csv_val(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(type(o))


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f} %"


def evaluate_command(model: str, images: Path, masks: Path, mask_kind: MaskKind, out: Path | None = None,
                     ids_file: Path | None = None, split: str | None = None, max_images: int | None = None,
                     normalise_method: str | None = None, device: str = "auto", worst: int = 12,
                     groups_file: Path | None = None, group_by: str = "set,kind", progress: bool = True,
                     backend: str = "auto") -> int:
    """``vitiseg evaluate``: evaluate, write ``OUT/summary.json``, ``per_image.csv``, ``worst.jpg``; log the headline
    numbers. Exit code 0; a user's mistake raises :class:`vitiseg.usage.UsageError` (exit code 2 on the command
    line)."""
    require_input_dir(images, "image folder (--images)")
    require_input_dir(masks, "mask folder (--masks)")
    for f, flag in ((ids_file, "--ids"), (groups_file, "--groups")):
        if f is not None:
            require_input_file(f, f"{flag} file")
    require_device(device)
    try:
        ids = read_ids(ids_file, split) if ids_file else None
    except (ValueError, KeyError) as exc:
        raise UsageError(f"--ids {ids_file}: {exc}") from None
    cols = [c.strip() for c in group_by.split(",") if c.strip()]
    groups = read_groups(groups_file, cols) if groups_file else None
    name = Path(model).name if model not in ("default", "classical") else model
    out = require_output_dir(out or Path("runs") / "evaluate" /
                             f"{name}-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}")
    seg = load_segmenter_checked(SegmentationConfig(model=model, device=device, backend=backend),
                                 NormaliseConfig(method=normalise_method) if normalise_method else NormaliseConfig())
    s = run_evaluation(model, images, masks, mask_kind, out, ids, max_images, normalise_method, device,
                       progress=progress, segmenter=seg, worst=worst, groups=groups)
    m = s["metrics"]
    log.info("model %s (%s) on %d images -> %s", s["model"].get("name"), s["model"].get("kind"), m["n_images"], out)
    for key in ("depigmented", "skin"):
        if key in m:
            d = m[key]
            log.info(
                "%-12s pooled Dice %s IoU %s | mean Dice %s IoU %s",
                key, _fmt(d["pooled_dice"]), _fmt(d["pooled_iou"]), _fmt(d["mean_dice"]), _fmt(d["mean_iou"]),
            )
    e = m.get("depigmented", {}).get("errors")
    if e:
        log.info(
            "errors       FN: %s within %g px of the true border, %s deeper | FP: %s at a border, %s far | "
            "lesions missed %s, false %s",
            _pct(e["fn_edge_share"]), e["edge_px"], _pct(e["fn_core_share"]), _pct(e["fp_edge_share"]),
            _pct(e["fp_far_share"]), _pct(e["lesions_missed_share"]), _pct(e["lesions_false_share"]),
        )
    if m.get("fraction"):
        f = m["fraction"]
        log.info("fraction     MAE %s bias %s slope %s", _fmt(f["mae"]), _fmt(f["mean_signed_error"]), _fmt(f["slope"]))
    if m.get("ita"):
        log.info("ITA tertiles %s", {k: v for k, v in m["ita"].items() if k.startswith("gap")})
    for col, per in m.get("groups", {}).items():
        for lab, g in per.items():
            log.info(
                "%s=%-20s n=%-4d depigmented Dice %s (share of missed px %s) skin Dice %s fraction MAE %s bias %s",
                col, lab, g["n_images"], _fmt(g.get("depig_pooled_dice")), _pct(g.get("fn_share")),
                _fmt(g.get("skin_pooled_dice")), _fmt(g.get("fraction_mae")), _fmt(g.get("fraction_bias")),
            )
    if (Path(out) / "worst.jpg").is_file() and s.get("worst_images"):
        log.info("the %d images with the most wrong pixels: %s", len(s["worst_images"]), Path(out) / "worst.jpg")
    return 0


