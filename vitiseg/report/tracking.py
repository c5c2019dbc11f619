"""Report sections of follow-up tracking (``changes.csv`` and ``patches.csv`` of :mod:`vitiseg.tracking.step`).

* Cohort: per region and visit, the change maps (pairs aligned, repigmented share of the baseline's depigmented skin,
  newly depigmented share of the skin) and the patches by pattern (share repigmented), each as median (IQR).
* Per patient: a small-multiples view of each baseline photo's patches: one row per patch (the largest
  :data:`MAX_PATCHES`), the baseline overlay and each follow-up's change overlay cropped around it, with the share
  repigmented and the pattern.

Every value is escaped; crops are embedded as JPEG data URIs (they are small whatever ``--images`` says).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..io.images import ImageReadError, encode_jpeg, read_rgb, resize_long_side
from .format import DASH, data_uri, esc, fmt_median_iqr, group_label

REGION_ORDER = ("face", "neck", "hands", "upper_limbs", "trunk", "lower_limbs", "feet")
PATTERN_ORDER = ("marginal", "perifollicular", "mixed", "complete", "none", "not visible")
MAX_PATCHES = 8
CROP_PX = 96


@dataclass
class TrackingTables:
    """``changes``: changes.csv; ``patches``: patches.csv (numbers as floats; text columns as text)."""

    changes: pd.DataFrame
    patches: pd.DataFrame


NUMERIC = ("visit_index", "repigmented_pct_of_baseline", "new_pct_of_skin", "repigmented_pct_of_skin",
           "baseline_px", "repigmented_share", "visible_share", "patch_id", "baseline_pct_of_skin")


def load_tracking(out_dir: Path) -> TrackingTables | None:
    """The tracking tables of a run folder, or None when tracking was not run."""
    if not (out_dir / "changes.csv").is_file() or not (out_dir / "patches.csv").is_file():
        return None
    tabs = []
    for name in ("changes", "patches"):
        df = pd.read_csv(out_dir / f"{name}.csv", dtype=str, keep_default_na=False)
        for c in NUMERIC:
            if c in df.columns:
                df[c] = pd.to_numeric(df[c], errors="coerce")
        tabs.append(df)
    return TrackingTables(*tabs)


def _group(df: pd.DataFrame, mode: str) -> pd.Series:
    return df["visit_id"] if mode == "visit_id" else df["visit_index"].astype(int).astype(str)


def _region_key(r: str) -> tuple:
    return (REGION_ORDER.index(r) if r in REGION_ORDER else len(REGION_ORDER), r)


def _miqr(s: pd.Series, digits: int = 1) -> str:
    s = s.dropna()
    if s.empty:
        return DASH
    return fmt_median_iqr(float(s.median()), float(s.quantile(0.25)), float(s.quantile(0.75)), digits)


def _share_cell(s: pd.DataFrame) -> str:
    return DASH if s.empty else f"{_miqr(100 * s['repigmented_share'])} [{len(s)}]"


def _visit_order(df: pd.DataFrame, mode: str) -> list[str]:
    g = df.assign(_g=_group(df, mode)).groupby("_g")["visit_index"].min().sort_values()
    return list(g.index)


def cohort_tracking_section(t: TrackingTables | None, mode: str) -> str:
    """Cohort tables of the change maps and of the patches by region and pattern (module docstring)."""
    head = "<section id='tracking'><h2>Where did it repigment? Follow-up photos aligned to baseline</h2>"
    if t is None:
        return head + "<p class='note'>Tracking was not run (tracking.enabled: false).</p></section>"
    ch = t.changes.assign(_g=_group(t.changes, mode))
    rows = []
    for region in sorted(ch["region"].unique(), key=_region_key):
        for g in _visit_order(ch[ch["region"] == region], mode):
            sub = ch[(ch["region"] == region) & (ch["_g"] == g)]
            ok = sub[sub["status"] == "aligned"]
            rows.append(f"<tr><td class='l'>{esc(region)}</td><td class='l'>{esc(group_label(g, mode))}</td>"
                        f"<td>{len(ok)} / {len(sub)}</td><td>{_miqr(ok['repigmented_pct_of_baseline'])}</td>"
                        f"<td>{_miqr(ok['new_pct_of_skin'], 2)}</td></tr>")
    pt = t.patches[t.patches["status"] == "aligned"]
    pt = pt.assign(_g=_group(pt, mode))
    shown = [p for p in PATTERN_ORDER if p in set(pt["pattern"])]
    prow = []
    for region in sorted(pt["region"].unique(), key=_region_key):
        for g in _visit_order(pt[pt["region"] == region], mode):
            sub = pt[(pt["region"] == region) & (pt["_g"] == g)]
            cells = "".join(f"<td>{_share_cell(s)}</td>" for s in [sub] + [sub[sub["pattern"] == p] for p in shown])
            prow.append(f"<tr><td class='l'>{esc(region)}</td><td class='l'>{esc(group_label(g, mode))}</td>"
                        f"{cells}</tr>")
    n = t.changes["status"].value_counts()
    return (
        head
        + "<p class='note'>Each follow-up photo is aligned to the same patient's baseline photo of that region and "
        f"view: {int(n.get('aligned', 0))} aligned, {int(n.get('not_aligned', 0))} not aligned (never compared; "
        f"reasons in changes.csv), {int(n.get('no_baseline', 0))} without a baseline photo, "
        f"{int(n.get('error', 0))} failed. Repigmented = depigmented at baseline, skin at the visit, as a share of "
        "the baseline's depigmented skin; newly depigmented as a share of the compared skin (faces: within the "
        "baseline's facial area). Median (IQR) over aligned photos.</p>"
        "<div class='scroll'><table class='data' id='tracking-table'><thead><tr><th class='l'>Region</th>"
        "<th class='l'>Visit</th><th>Aligned / photos</th><th>Repigmented, % of baseline depigmented<br>"
        "median (IQR)</th><th>Newly depigmented, % of skin<br>median (IQR)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
        "<h3>Patches by region and pattern</h3>"
        "<p class='note'>Patches: the baseline's connected depigmented areas (patches.csv), grouped by their pattern "
        "at the visit. Pattern: marginal (the border advances inwards), perifollicular (new skin "
        "inside the patch, its outline kept), mixed; complete: almost nothing left; none: little or no new skin "
        "(rule in vitiseg/tracking/patches.py).</p>"
        "<div class='scroll'><table class='data' id='patch-table'><thead><tr><th class='l' rowspan='2'>Region</th>"
        f"<th class='l' rowspan='2'>Visit</th><th colspan='{1 + len(shown)}'>Share repigmented, % median (IQR) "
        "[patches]</th></tr><tr><th>all patches</th>" + "".join(f"<th>{esc(p)}</th>" for p in shown)
        + f"</tr></thead><tbody>{''.join(prow)}</tbody></table></div></section>"
    )


class _Crops:
    """Crops of overlay images around patch boxes (boxes in working-size pixels)."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self.cache: dict[str, np.ndarray | None] = {}

    def src(self, rel: str, bbox: tuple[int, int, int, int], work_w: float, work_h: float) -> str | None:
        if rel not in self.cache:
            try:
                self.cache[rel] = read_rgb(self.out_dir / rel) if rel else None
            except ImageReadError:
                self.cache[rel] = None
        img = self.cache[rel]
        if img is None or not work_w:
            return None
        s = img.shape[1] / work_w
        h = min(img.shape[0], int(round(work_h * s)))  # the change overlays carry a legend below the photo
        x0, y0, x1, y1 = (v * s for v in bbox)
        pad = max(8.0, 0.25 * max(x1 - x0, y1 - y0))
        xa, xb = int(max(0, x0 - pad)), int(min(img.shape[1], x1 + pad))
        ya, yb = int(max(0, y0 - pad)), int(min(h, y1 + pad))
        if xb <= xa or yb <= ya:
            return None
        crop = img[ya:yb, xa:xb]
        crop = resize_long_side(crop, CROP_PX) if max(crop.shape[:2]) > CROP_PX else crop
        return data_uri(encode_jpeg(np.ascontiguousarray(crop), 85), "image/jpeg")


def _cell(src: str | None, caption: str, title: str = "") -> str:
    img = f"<img class='patch' alt='{esc(title)}' src='{esc(src)}'>" if src else "<div class='missing'>no image</div>"
    return f"<td title='{esc(title)}'>{img}<div class='cap'>{caption}</div></td>"


def patient_tracking_section(patient: str, t: TrackingTables | None, photos: pd.DataFrame | None,
                             out_dir: Path) -> str:
    """The patient's patches in small multiples (module docstring); empty when there is nothing to show."""
    if t is None or photos is None:
        return ""
    pt = t.patches[t.patches["patient_id"] == patient]
    ch = t.changes[t.changes["patient_id"] == patient]
    if pt.empty and not (ch["status"] == "not_aligned").any():
        return ""
    info = photos.set_index("path")
    crops = _Crops(out_dir)
    parts = ["<h4>Patches followed from baseline</h4><p class='note'>Each patch: the baseline overlay, then each "
             "visit's change map (green repigmented, red newly depigmented, white still depigmented), the share "
             "repigmented and the pattern.</p>"]
    for bpath, g in sorted(pt.groupby("baseline_path"), key=lambda kv: _region_key(kv[1]["region"].iloc[0])):
        if bpath not in info.index:
            continue
        b = info.loc[bpath]
        w, h = float(b.get("width") or 0), float(b.get("height") or 0)
        visits = g.drop_duplicates("visit_id").sort_values("visit_index")["visit_id"].tolist()
        fu = ch[ch["baseline_path"] == bpath].set_index("visit_id")
        ids = g.drop_duplicates("patch_id").sort_values("patch_id")
        label = str(b["region"]).replace("_", " ") + (f" ({b['view']})" if b.get("view") else "")
        tiles = []
        for p in ids.head(MAX_PATCHES).itertuples():
            bbox = tuple(int(v) for v in str(p.bbox).split())
            cells = [_cell(crops.src(str(b.get("overlay", "")), bbox, w, h), "baseline", f"patch {p.patch_id}")]
            for v in visits:
                r = g[(g["patch_id"] == p.patch_id) & (g["visit_id"] == v)]
                c = fu.loc[v] if v in fu.index else None
                if r.empty or c is None or c["status"] != "aligned":
                    why = "not compared" if c is None else c["status"].replace("_", " ")
                    cells.append(f"<td><div class='missing'>{esc(v)}: {esc(why)}</div></td>")
                    continue
                r = r.iloc[0]
                share = r["repigmented_share"]
                cap = f"{esc(v)}: " + (f"{100 * share:.0f}%" if np.isfinite(share) else DASH) + \
                    f"<br>{esc(r['pattern'])}"
                cells.append(_cell(crops.src(str(c["change_overlay"]), bbox, w, h), cap,
                                   f"patch {p.patch_id} at {v}"))
            tiles.append(f"<div class='tile'><div class='cap'><b>#{int(p.patch_id)}</b> {int(p.baseline_px)} px, "
                         f"{p.baseline_pct_of_skin:.1f}% of skin</div><table class='patches'><tr>{''.join(cells)}"
                         "</tr></table></div>")
        more = len(ids) - MAX_PATCHES
        note = f"<div class='cap'>{more} smaller patches in patches.csv</div>" if more > 0 else ""
        parts.append(f"<div class='plabel'>{esc(label)}</div><div class='tiles'>{''.join(tiles)}</div>{note}")
    for c in ch[ch["status"] == "not_aligned"].itertuples():
        parts.append(f"<p class='note warn'>{esc(c.path)}: not aligned to the baseline ({esc(c.reason)}); "
                     "not compared.</p>")
    return "".join(parts)
