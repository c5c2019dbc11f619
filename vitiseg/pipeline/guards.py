"""Checks of a discovered visits folder before any photo is measured: an empty folder is a user's mistake, visits
listed in ``visits.csv`` without photos are said out loud (they get no scores and do not count as seen)."""

from __future__ import annotations

import logging

from ..io.layout import VisitsLayout
from ..usage import UsageError

log = logging.getLogger(__name__)

SHOW = 8  # ids named in one warning line


def visits_without_photos(layout: VisitsLayout) -> list[tuple[str, str]]:
    """(patient_id, visit_id) of the visits (from ``visits.csv``) that have no photo at all, in visit order."""
    have = {(p.patient_id, p.visit_id) for p in layout.photos}
    return [(r.patient_id, r.visit_id) for r in layout.visit_meta.itertuples(index=False)
            if (r.patient_id, r.visit_id) not in have]


def check_layout(layout: VisitsLayout) -> None:
    """:class:`UsageError` when the folder holds no photo; a warning naming the visits without photos."""
    if not layout.photos:
        skipped = f"; {len(layout.skipped)} other file(s) ignored" if layout.skipped else ""
        raise UsageError(f"no photos in {layout.root}: expected <patient_id>/<visit_id>/<region>[_<view>].jpg inside "
                         f"it, or a manifest.csv{skipped}")
    empty = visits_without_photos(layout)
    if empty:
        names = ", ".join(f"{p}/{v}" for p, v in empty[:SHOW]) + (" ..." if len(empty) > SHOW else "")
        log.warning("%d visit(s) in visits.csv have no photos (%s): they get no F-VASI / T-VASI and are not counted "
                    "as seen", len(empty), names)
