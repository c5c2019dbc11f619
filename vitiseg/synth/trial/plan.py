"""Cohort planning: per patient and visit, target depigmented fractions for the seven regions, solved so that the
cohort's medians and responder rates equal the preset's figures exactly on the targets (medians by bisection, responder
rates by construction, every patient's change kept >= ``MARGIN`` away from a responder threshold)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from vitiseg.config import load_regions

from .presets import MARGIN, NON_FACE, REGIONS, CohortPreset

log = logging.getLogger(__name__)


def _bisect(fn, target: float, lo: float, hi: float, increasing: bool, tol: float = 1e-6, it: int = 200) -> float:
    """x in [lo, hi] with fn(x) ~= target for a monotone fn.

    If the target is outside [fn(lo), fn(hi)] (possible for small cohorts), warns and returns the nearer end.
    """
    flo, fhi = fn(lo), fn(hi)
    a, b = (flo, fhi) if increasing else (fhi, flo)
    if not (a - tol <= target <= b + tol):
        log.warning("cohort target %.4g unreachable with this cohort size (range %.4g..%.4g); using nearest",
                    target, a, b)
        return lo if abs(flo - target) < abs(fhi - target) else hi
    for _ in range(it):
        mid = 0.5 * (lo + hi)
        fm = fn(mid)
        if abs(fm - target) <= tol:
            return mid
        if (fm < target) == increasing:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _split_rest(rest: float, hu: dict[str, float], w: dict[str, float], cap: float = 0.9) -> dict[str, float]:
    """Distribute ``rest`` hand units over non-face regions by weights ``w``; fractions capped at ``cap``."""
    frac = {r: 0.0 for r in NON_FACE}
    remaining = rest
    active = {r for r in NON_FACE if w[r] > 0}
    for _ in range(10):
        if remaining <= 1e-12 or not active:
            break
        tot = sum(w[r] for r in active)
        add = {r: remaining * w[r] / tot for r in active}
        remaining = 0.0
        for r in list(active):
            f = frac[r] + add[r] / hu[r]
            if f > cap:
                remaining += (f - cap) * hu[r]
                f = cap
                active.discard(r)
            frac[r] = f
    if remaining > 1e-9:
        raise ValueError(f"cannot place {rest} hand units within the fraction cap")
    return frac


def plan_cohort(preset: CohortPreset, rng: np.random.Generator, patients: int | None = None) -> list[dict[str, Any]]:
    """Per-patient targets: ``{"patient_id", "f": [per visit], "t": [...], "frac": [{region: fraction}, ...]}``.

    Visits beyond the first interpolate geometrically between baseline and the final visit. With ``targets`` the
    medians and responder rates of F-VASI / T-VASI at baseline and at the final visit equal the preset's values on
    the planned numbers (for ``patients`` 50: exactly; rates are rounded to whole patients otherwise).
    """
    n = int(patients or preset.patients)
    tg = preset.targets
    hu = {r: s.hand_units for r, s in load_regions().regions.items()}
    u_f0 = np.exp(rng.normal(0.0, 0.45, n))
    y_rest = np.exp(rng.normal(0.0, 0.8, n))
    if tg is None:
        f0 = np.clip(u_f0, 0.3, 2.5)
        t0 = f0 + np.clip(1.2 * y_rest, 0.2, 8.0)
        r = np.clip(rng.uniform(0.1, 1.1, n), 0, 1.2)
        q = np.clip(rng.uniform(0.3, 1.1, n), 0, 1.2)
        f1 = f0 * r
        t1 = np.maximum(t0 * q, f1 + 0.1)
    else:
        f0 = np.clip(u_f0 * tg.f_vasi_baseline_median / np.median(u_f0), 0.5, 2.7)

        def t0_of(c: float) -> np.ndarray:
            return f0 + np.clip(c * y_rest, 0.2, tg.bsa_max - f0)

        c = _bisect(lambda c: float(np.median(t0_of(c))), tg.t_vasi_baseline_median, 1e-3, 50.0, True)
        t0 = t0_of(c)
        if t0.min() < tg.bsa_min - 1e-9:
            raise ValueError("planned BSA below the preset minimum")
        # F-VASI response categories, fixed counts
        k90 = int(round(tg.f_vasi90_rate * n))
        k75 = int(round(tg.f_vasi75_rate * n)) - k90
        perm = rng.permutation(n)
        cat = np.zeros(n, int)  # 0 = non-responder, 1 = F-VASI75 (not 90), 2 = F-VASI90
        cat[perm[:k90]] = 2
        cat[perm[k90 : k90 + k75]] = 1
        u = rng.uniform(0, 1, n)
        lo = np.select([cat == 2, cat == 1], [0.01, 0.10 + MARGIN], 0.25 + MARGIN)
        hi = np.select([cat == 2, cat == 1], [0.10 - MARGIN, 0.25 - MARGIN], 1.3)

        def r_of(g: float) -> np.ndarray:
            return lo + (hi - lo) * u ** np.exp(g)

        g = _bisect(lambda g: float(np.median(f0 * r_of(g))), tg.f_vasi_final_median, -6.0, 6.0, False)
        r = r_of(g)
        f1 = f0 * r
        # T-VASI50 responders: the k patients with the best face response (plus noise) -- clinically correlated
        k50 = int(round(tg.t_vasi50_rate * n))
        score = np.log(r) + rng.normal(0, 0.6, n)
        for _attempt in range(50):
            resp = np.zeros(n, bool)
            resp[np.argsort(score)[:k50]] = True
            qmin = (f1 + 0.05) / t0  # week-12 T-VASI must exceed its face part
            qlo = np.where(resp, np.maximum(0.10, qmin), np.maximum(0.5 + MARGIN, qmin))
            qhi = np.where(resp, 0.5 - MARGIN, 1.3)
            if np.all(qlo < qhi):
                break
            score[np.nonzero(resp & (qlo >= qhi))[0]] += 5.0  # cannot respond: swap out
        else:
            raise ValueError("could not assign T-VASI responders consistent with the face targets")
        v = rng.uniform(0, 1, n)

        def q_of(g: float) -> np.ndarray:
            return qlo + (qhi - qlo) * v ** np.exp(g)

        g = _bisect(lambda g: float(np.median(t0 * q_of(g))), tg.t_vasi_final_median, -6.0, 6.0, False)
        t1 = t0 * q_of(g)
    plans = []
    visits = list(preset.visits)
    for i in range(n):
        involved = rng.random(len(NON_FACE)) < 0.6
        if not involved.any():
            involved[int(rng.integers(len(NON_FACE)))] = True
        w0 = {reg: float(rng.gamma(1.5)) if inv else 0.0 for reg, inv in zip(NON_FACE, involved)}
        rest0 = float(t0[i] - f0[i])
        rest1 = float(t1[i] - f1[i])
        fr0 = _split_rest(rest0, hu, w0)
        # per-region response varies around the patient's overall response
        w1 = {reg: w0[reg] * float(np.exp(rng.normal(0, 0.3))) for reg in NON_FACE}
        fr1 = _split_rest(rest1, hu, w1)
        fs, ts, fracs = [], [], []
        for k, _vid in enumerate(visits):
            s = k / (len(visits) - 1) if len(visits) > 1 else 0.0
            fv = float(f0[i] ** (1 - s) * max(f1[i], 1e-9) ** s) if k not in (0, len(visits) - 1) else (
                float(f0[i]) if k == 0 else float(f1[i]))
            fr = {"face": fv / hu["face"]}
            for reg in NON_FACE:
                a, b = fr0[reg], fr1[reg]
                fr[reg] = a if k == 0 else (b if k == len(visits) - 1 else float(a ** (1 - s) * max(b, 1e-9) ** s))
            fs.append(fv)
            ts.append(float(sum(hu[reg] * fr[reg] for reg in REGIONS)))
            fracs.append(fr)
        plans.append({"patient_id": f"P{i + 1:03d}", "f": fs, "t": ts, "frac": fracs})
    return plans


def cohort_statistics(rows: list[dict[str, Any]], visits: list[str]) -> dict[str, float]:
    """Medians and responder rates at the first and last visit from per-visit truth rows (floats)."""
    by = {}
    for r in rows:
        by.setdefault(r["patient_id"], {})[r["visit_id"]] = r
    f0 = np.array([v[visits[0]]["f_vasi"] for v in by.values()], float)
    f1 = np.array([v[visits[-1]]["f_vasi"] for v in by.values()], float)
    t0 = np.array([v[visits[0]]["t_vasi"] for v in by.values()], float)
    t1 = np.array([v[visits[-1]]["t_vasi"] for v in by.values()], float)
    fch = (f1 - f0) / f0
    tch = (t1 - t0) / t0
    return {
        "n": int(len(f0)),
        "f_vasi_baseline_median": float(np.median(f0)), "f_vasi_final_median": float(np.median(f1)),
        "f_vasi75_rate": float(np.mean(fch <= -0.75)), "f_vasi90_rate": float(np.mean(fch <= -0.90)),
        "t_vasi_baseline_median": float(np.median(t0)), "t_vasi_final_median": float(np.median(t1)),
        "t_vasi50_rate": float(np.mean(tch <= -0.50)),
        "bsa_baseline_min": float(t0.min()), "bsa_baseline_max": float(t0.max()),
        "face_involved_baseline_rate": float(np.mean(f0 > 0)),
    }
