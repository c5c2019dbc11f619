"""The report's list of the run's data files, each a relative link (the page lives in the run folder)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from .format import esc

RUN_FILES = (
    ("visits.csv", "F-VASI / T-VASI per visit, with the patient-reported outcomes"),
    ("longitudinal.csv", "change from baseline and responder flags per visit"),
    ("regions.csv", "depigmented fraction per body region and visit"),
    ("photos.csv", "every photo: pixel counts, fraction, status"),
    ("failures.csv", "photos that failed, with the reason"),
    ("patch_areas.csv", "photos with a scale marker: each depigmented patch in cm2"),
    ("hand_units.csv", "visits with a palm photo: areas in the patient's own hand units beside Lund-Browder"),
    ("skin_colour.csv", "healthy-skin L* and ITA change since the first visit, with flags"),
    ("cohort.csv", "this page's cohort table"),
    ("cohort_regions.csv", "this page's body-region table"),
    ("cohort_by_arm.csv", "the cohort table per treatment arm"),
    ("cohort_arms.csv", "the between-arm comparison"),
    ("cohort.json", "the cohort tables with their statistical conventions"),
    ("vitiseg.sqlite", "the tables above in one SQLite database"),
    ("run.json", "configuration, model identity, package versions, counts"),
    ("run.log", "the run's log"),
)


def files_section(out_dir: Path) -> str:
    """``#files``: links to the run's data files that exist in ``out_dir``."""
    items = "".join(f"<li><a href='{quote(name)}'>{esc(name)}</a> <span class='note'>{esc(what)}</span></li>"
                    for name, what in RUN_FILES if (out_dir / name).is_file())
    return ("<section id='files'><h2>Data files</h2><p class='note'>Fractions are in [0, 1] in every file; columns in "
            "percent or percentage points say so in their name (<code>_pct</code>, <code>_pp</code>); "
            "<code>vasi_level</code> is the VASI level in percent.</p>"
            f"<ul class='files'>{items}</ul></section>")
