"""Report figures (matplotlib, Agg canvas, PNG bytes): the cohort's scores per visit and one patient's trajectory."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..scoring.cohort_stats import CohortTable
from .format import group_label


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib Figure rendered on the Agg canvas (no pyplot global state)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})  # no text chunks
    return buf.getvalue()


def cohort_figure(visits: pd.DataFrame, table: CohortTable) -> bytes:
    """Per-patient F-VASI / T-VASI lines (grey) with the cohort median and IQR per visit group (blue)."""
    fig = Figure(figsize=(10, 3.2))
    key = visits["visit_id"] if table.mode == "visit_id" else visits["visit_index"].astype(str)
    pos = {g: i for i, g in enumerate(table.groups)}
    x = key.map(pos)
    for ax, col, label, med_key in ((fig.add_subplot(1, 2, 1), "f_vasi", "F-VASI", "f_vasi"),
                                    (fig.add_subplot(1, 2, 2), "t_vasi", "T-VASI", "t_vasi")):
        for _, g in visits.assign(_x=x).sort_values("_x").groupby("patient_id"):
            ok = g[col].notna()
            if table.include_partial_tvasi is False and col == "t_vasi":
                ok &= ~g["t_vasi_partial"].astype(bool)
            ax.plot(g.loc[ok, "_x"], g.loc[ok, col], color="#9aa5b1", lw=0.8, alpha=0.7, marker="o", ms=2.5)
        if not any(r[f"{med_key}_median"] is not None for r in table.rows):
            ax.text(0.5, 0.5, f"no {label} value" + (" (all partial)" if col == "t_vasi" else ""),
                    transform=ax.transAxes, ha="center", va="center", color="#5b6775")
        xs = [r["order"] for r in table.rows if r[f"{med_key}_median"] is not None]
        med = [r[f"{med_key}_median"] for r in table.rows if r[f"{med_key}_median"] is not None]
        lo = [r[f"{med_key}_median"] - r[f"{med_key}_q1"] for r in table.rows if r[f"{med_key}_median"] is not None]
        hi = [r[f"{med_key}_q3"] - r[f"{med_key}_median"] for r in table.rows if r[f"{med_key}_median"] is not None]
        ax.errorbar(xs, med, yerr=[lo, hi], color="#1f5f8b", lw=2, marker="s", ms=5, capsize=4,
                    label="median (IQR)")
        ax.set_xticks(range(len(table.groups)), [group_label(g, table.mode) for g in table.groups],
                      rotation=20 if len(table.groups) > 4 else 0)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(axis="y", color="#e3e7ec", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
        if xs:
            ax.legend(frameon=False, fontsize=8, loc="upper right")
    fig.tight_layout()
    return figure_png(fig)


def visit_dates(pv: pd.DataFrame) -> pd.Series | None:
    """The visits' dates (datetime64) when every visit of ``pv`` has a parseable ``date``, else None."""
    if "date" not in pv.columns:
        return None
    d = pd.to_datetime(pv["date"].replace("", None), errors="coerce")
    return None if d.isna().any() else d


def trajectory_figure(pv: pd.DataFrame) -> bytes:
    """One patient's F-VASI and T-VASI per visit (partial T-VASI drawn hollow). ``pv``: typed visit rows.

    The time axis is the visit date (day since baseline on the ticks) when every visit has one, else the visit
    order."""
    pv = pv.sort_values("visit_index")
    fig = Figure(figsize=(6.2, 2.4))
    dates = visit_dates(pv)
    if dates is not None:
        days = (dates - dates.iloc[0]).dt.days.to_numpy()
        x = days.astype(float)
        labels = [f"{v}\n{d:%Y-%m-%d}" for v, d in zip(pv["visit_id"], dates)]
    else:
        x = np.arange(len(pv))
        labels = list(pv["visit_id"])
    for i, (col, label, colour) in enumerate((("f_vasi", "F-VASI", "#1f5f8b"), ("t_vasi", "T-VASI", "#7a3e9d"))):
        ax = fig.add_subplot(1, 2, i + 1)
        y = pv[col].to_numpy(dtype=float)
        ax.plot(x, y, color=colour, lw=1.8, marker="o", ms=5)
        if col == "t_vasi":
            partial = pv["t_vasi_partial"].to_numpy(dtype=bool)
            if partial.any():
                ax.plot(x[partial], y[partial], ls="none", marker="o", ms=8, mfc="white", mec=colour,
                        label="partial (regions missing)")
                ax.legend(frameon=False, fontsize=7, loc="best")
        ax.set_xticks(x, labels, rotation=20 if len(labels) > 4 else 0, fontsize=8)
        if dates is not None:
            ax.set_xlabel("days since baseline", fontsize=8)
            ax.set_xlim(x.min() - 0.08 * max(np.ptp(x), 1), x.max() + 0.08 * max(np.ptp(x), 1))
        ax.set_title(label, fontsize=10)
        top = np.nanmax(y) if np.isfinite(y).any() else 1.0
        ax.set_ylim(0, max(top * 1.15, 0.1))
        ax.grid(axis="y", color="#e3e7ec", lw=0.8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_png(fig)


WATERFALL_COLOURS = ("#1f5f8b", "#c0612b", "#3c8c4a", "#7a3e9d", "#8a6d1d", "#5b6775")


def waterfall_order(changes: pd.DataFrame) -> pd.DataFrame:
    """The bars of a waterfall plot, left to right: rows with a ``change_pct``, worst (largest) first, ties by id."""
    return changes.dropna(subset=["change_pct"]).sort_values(["change_pct", "patient_id"], ascending=[False, True])


def waterfall_figure(changes: pd.DataFrame, title: str, arms: pd.Series | None = None,
                     thresholds: tuple[int, ...] = (50, 75, 90)) -> bytes:
    """Waterfall plot: one bar per patient, % change from baseline (negative = improvement), worst to best.

    ``changes``: ``patient_id`` and ``change_pct`` (NaN rows are left out). ``arms``: ``patient_id -> arm`` to colour
    the bars by arm. Dashed lines at ``-thresholds`` (responder cut-offs)."""
    c = waterfall_order(changes)
    fig = Figure(figsize=(min(10.0, 3.0 + 0.25 * len(c)), 3.0))
    ax = fig.add_subplot(1, 1, 1)
    if c.empty:
        ax.text(0.5, 0.5, "no patient with a defined % change", transform=ax.transAxes, ha="center", va="center",
                color="#5b6775")
        ax.set_axis_off()
        return figure_png(fig)
    x = np.arange(len(c))
    y = c["change_pct"].to_numpy(dtype=float)
    if arms is not None and len(arms):
        arm = c["patient_id"].map(arms).fillna("no arm").to_numpy()
        names = list(dict.fromkeys(sorted(arm)))
        for i, name in enumerate(names):
            m = arm == name
            ax.bar(x[m], y[m], color=WATERFALL_COLOURS[i % len(WATERFALL_COLOURS)], width=0.8, label=str(name))
        ax.legend(frameon=False, fontsize=8, loc="upper right")
    else:
        ax.bar(x, y, color=np.where(y <= -thresholds[0], "#1f5f8b", "#9aa5b1"), width=0.8)
    for t in thresholds:
        ax.axhline(-t, color="#5b6775", lw=0.8, ls="--")
        ax.text(len(c) - 0.5, -t, f" -{t}%", va="center", ha="left", fontsize=7, color="#5b6775")
    ax.axhline(0, color="#1d2733", lw=0.8)
    ax.set_ylabel("% change from baseline")
    ax.set_title(title, fontsize=10)
    ax.set_xticks(x, list(c["patient_id"]), rotation=90 if len(c) > 12 else 0, fontsize=7 if len(c) > 12 else 8)
    ax.set_xlim(-0.6, len(c) - 0.4)
    ax.grid(axis="y", color="#e3e7ec", lw=0.8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return figure_png(fig)
