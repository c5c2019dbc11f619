"""``vitiseg synth dataset``: a folder of synthetic training/evaluation samples on real skin backgrounds.

Layout written to ``OUT``::

    OUT/images/<id>.jpg     photo after camera degradations (JPEG at the sampled quality)
    OUT/masks/<id>.png      class mask uint8 {0 background, 1 healthy skin, 2 depigmented skin}
    OUT/truth/<id>.json     exact truth (pixel counts per class, fraction, ITA, lesion and camera parameters)
    OUT/index.csv           id, set, background, split, fraction, skin_px, depigmented_px, ita_deg, kind
    OUT/dataset.json        the generation settings (a re-run with other settings into the same folder is refused)

Sample ``i`` is a pure function of ``(seed, i)`` and the settings, so the folder can be grown (larger ``--n``) or
resumed after an interruption: a sample is complete when its truth JSON exists (written last, atomically).
"""

from __future__ import annotations

import json
import logging
import time
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from vitiseg.io.files import atomic_write_bytes, atomic_write_text
from vitiseg.io.images import encode_jpeg, write_png
from vitiseg.io.tables import write_csv_rows
from vitiseg.synth.backgrounds import (BackgroundRef, list_backgrounds, load_background, random_square_crop,
                                      shift_skin_tone)
from vitiseg.synth.hard import EXTENSIVE_DARK_BIAS, HardPlan, sample_plan
from vitiseg.synth.render import GENERATOR_VERSION, render_sample
from vitiseg.synth.tones import sample_retone

log = logging.getLogger(__name__)

INDEX_COLUMNS = ["id", "set", "background", "split", "fraction", "skin_px", "depigmented_px", "ita_deg", "kind"]


def sample_id(i: int) -> str:
    return f"s{i:06d}"


def pick_background(refs_by_set: dict[str, list[BackgroundRef]], rng: np.random.Generator) -> BackgroundRef:
    """Uniform over sets (so small sets are not drowned by large ones), then uniform over the set's backgrounds."""
    names = sorted(refs_by_set)
    s = names[int(rng.integers(len(names)))]
    refs = refs_by_set[s]
    return refs[int(rng.integers(len(refs)))]


def make_one(i: int, seed: int, size: int, refs_by_set: dict[str, list[BackgroundRef]],
             tone_shift: float = 0.0, paint_lesions: bool = True, tone_balance: float = 0.0,
             p_extensive: float = 0.0, p_residual: float = 0.0) -> tuple[bytes, np.ndarray, dict]:
    """Render sample ``i``: returns (JPEG bytes of the ``(size, size, 3)`` sRGB photo, ``(size, size) uint8`` class
    mask in {0, 1, 2}, truth dict). Deterministic in (seed, i, settings).

    ``tone_shift``: probability of darkening the background's skin first (:func:`shift_skin_tone`); 0 draws no
    random number for it, so such a folder is identical to one made before the option existed.
    ``paint_lesions=False``: the sample's lesion-free twin (same mask, truth and noise; see :func:`render_sample`).
    ``p_extensive`` / ``p_residual``: probabilities of an extensive or a faint residual lesion plan
    (:func:`vitiseg.synth.hard.sample_plan`, recorded as ``truth["plan"]``); ``tone_balance``: probability of
    re-toning the background skin to a tone-balanced ITA, lighter or darker (:func:`vitiseg.synth.tones.sample_retone`;
    extensive plans lean dark; recorded as ``truth["tone_shift"]``). All three at 0 draw no random number, so such a
    folder is byte-identical to one made before the options existed (``tests/synth/test_hard_tones.py``).
    """
    rng = np.random.default_rng([seed, i])
    ref = pick_background(refs_by_set, rng)
    rgb, skin = load_background(ref.image, ref.mask)
    rgb, skin = random_square_crop(rgb, skin, size, rng)
    tone = None
    if tone_shift > 0 and rng.random() < tone_shift:
        rgb, tone = shift_skin_tone(rgb, skin, rng)
    plan = sample_plan(rng, p_extensive, p_residual) if (p_extensive > 0 or p_residual > 0) else HardPlan("standard")
    if tone_balance > 0 and rng.random() < tone_balance:
        rgb, tone = sample_retone(rgb, skin, rng, EXTENSIVE_DARK_BIAS if plan.label == "extensive" else 0.0)
    out, cls, truth = render_sample(rgb, skin, rng, paint_lesions=paint_lesions, target_fraction=plan.target_fraction,
                                    kind=plan.kind, dl_scale=plan.dl_scale)
    truth = {"id": sample_id(i), "set": ref.set, "background": ref.bg_id, "split": ref.split, "seed": seed,
             "index": i, **truth}
    if tone is not None:
        truth["tone_shift"] = tone
    if plan.label != "standard":
        truth["plan"] = {"label": plan.label, "dl_scale": round(plan.dl_scale, 4)}
    return encode_jpeg(out, truth["photo"]["jpeg_quality"]), cls, truth


def index_row(truth: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": truth["id"], "set": truth["set"], "background": truth["background"], "split": truth["split"],
        "fraction": f"{truth['fraction']:.6f}", "skin_px": truth["skin_px"], "depigmented_px": truth["depigmented_px"],
        "ita_deg": "" if truth.get("ita_deg") is None else f"{truth['ita_deg']:.2f}", "kind": truth["lesion"]["kind"],
    }


def write_index(out: Path, n: int) -> int:
    """Rebuild ``index.csv`` from the truth JSONs of samples 0..n-1 that exist; returns the row count."""
    rows = []
    for i in range(n):
        p = out / "truth" / f"{sample_id(i)}.json"
        if p.is_file():
            rows.append(index_row(json.loads(p.read_text(encoding="utf-8"))))
    write_csv_rows(rows, INDEX_COLUMNS, out / "index.csv")
    return len(rows)


def _write_one(out: Path, i: int, seed: int, size: int, by_set: dict[str, list[BackgroundRef]],
               tone_shift: float = 0.0, hard: dict[str, float] | None = None) -> None:
    """Render sample ``i`` and write its image, mask and (last, marking it complete) truth JSON atomically.
    ``hard``: the keyword options ``tone_balance`` / ``p_extensive`` / ``p_residual`` of :func:`make_one` in use."""
    sid = sample_id(i)
    jpg, cls, truth = make_one(i, seed, size, by_set, tone_shift, **(hard or {}))
    atomic_write_bytes(out / "images" / f"{sid}.jpg", jpg)
    write_png(out / "masks" / f"{sid}.png", cls)
    atomic_write_text(out / "truth" / f"{sid}.json", json.dumps(truth, indent=1) + "\n")


_WORKER: dict[str, Any] = {}


def _init_worker(out: str, seed: int, size: int, by_set: dict[str, list[BackgroundRef]], tone_shift: float,
                 hard: dict[str, float] | None = None) -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would oversubscribe
    _WORKER.update(out=Path(out), seed=seed, size=size, by_set=by_set, tone_shift=tone_shift, hard=hard)


def _write_in_worker(i: int) -> int:
    w = _WORKER
    _write_one(w["out"], i, w["seed"], w["size"], w["by_set"], w["tone_shift"], w.get("hard"))
    return i


def generate(skin_root: str | Path, out: str | Path, n: int, seed: int, size: int = 384,
             sets: tuple[str, ...] | list[str] = (), split: str = "all", progress: bool = True,
             workers: int = 1, tone_shift: float = 0.0, tone_balance: float = 0.0, p_extensive: float = 0.0,
             p_residual: float = 0.0) -> dict[str, Any]:
    """Write (or complete) a dataset folder; returns ``{"written", "skipped", "seconds", "samples_per_s"}``.

    ``workers > 1`` renders in that many spawned processes; since sample ``i`` depends only on ``(seed, i)`` and
    the settings, the folder is byte-identical to a one-process run. ``tone_shift`` (0-1): share of samples whose
    background skin is first darkened to a brown / dark ITA (:func:`vitiseg.synth.backgrounds.shift_skin_tone`).
    ``tone_balance``, ``p_extensive``, ``p_residual``: see :func:`make_one` (recorded in dataset.json when > 0).
    """
    if not 0.0 <= tone_shift <= 1.0:
        raise ValueError(f"tone_shift must be in [0, 1], got {tone_shift}")
    if not 0.0 <= tone_balance <= 1.0 or p_extensive < 0 or p_residual < 0 or p_extensive + p_residual > 1:
        raise ValueError(f"need tone_balance in [0, 1] and extensive, residual >= 0 with a sum <= 1, got "
                         f"{tone_balance}, {p_extensive}, {p_residual}")
    hard = {k: float(v) for k, v in (("tone_balance", tone_balance), ("p_extensive", p_extensive),
                                     ("p_residual", p_residual)) if v > 0}
    out = Path(out)
    refs = list_backgrounds(skin_root, tuple(sets)) if sets else list_backgrounds(skin_root)
    if split != "all":
        refs = [r for r in refs if r.split == split]
    by_set: dict[str, list[BackgroundRef]] = {}
    for r in refs:
        by_set.setdefault(r.set, []).append(r)
    if not by_set:
        raise ValueError(f"no backgrounds for sets={list(sets) or 'default'} split={split} under {skin_root}")
    settings = {"seed": int(seed), "size": int(size), "sets": sorted(by_set), "split": split,
                "generator": f"vitiseg.synth.dataset {GENERATOR_VERSION}"}
    if tone_shift > 0:  # recorded only when used, so folders made before the option still resume
        settings["tone_shift"] = float(tone_shift)
    settings.update(hard)  # the same for the issue-20 options
    meta_path = out / "dataset.json"
    if meta_path.is_file():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        keys = set(settings) | {"tone_shift", "tone_balance", "p_extensive", "p_residual"}
        if {k: old.get(k) for k in keys} != {k: settings.get(k) for k in keys}:
            raise ValueError(f"{out} was generated with other settings {old}; use another --out or the same settings")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(meta_path, json.dumps(settings, indent=2) + "\n")
    todo = [i for i in range(n) if not (out / "truth" / f"{sample_id(i)}.json").is_file()]
    skipped = n - len(todo)
    written = 0
    t0 = time.perf_counter()
    bar = tqdm(total=len(todo), desc="synth dataset", unit="img", disable=not progress)
    if workers <= 1 or len(todo) < 2:
        for i in todo:
            _write_one(out, i, seed, size, by_set, tone_shift, hard)
            written += 1
            bar.update()
    else:
        ctx = get_context("spawn")
        chunk = max(1, min(64, len(todo) // (workers * 8)))
        initargs = (str(out), seed, size, by_set, tone_shift, hard)
        with ctx.Pool(workers, initializer=_init_worker, initargs=initargs) as pool:
            for _ in pool.imap_unordered(_write_in_worker, todo, chunksize=chunk):
                written += 1
                bar.update()
    bar.close()
    secs = time.perf_counter() - t0
    rows = write_index(out, n)
    stats = {"written": written, "skipped": skipped, "rows": rows, "seconds": round(secs, 2),
             "samples_per_s": round(written / secs, 2) if written and secs > 0 else None}
    log.info("synth dataset %s: %s", out, stats)
    return stats
