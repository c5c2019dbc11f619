"""Pseudonymised runs (``vitiseg run --pseudonymise KEY``): patient IDs replaced by a keyed hash in every output.

A patient ID becomes ``ps_`` + the first 12 hex digits (48 bits) of HMAC-SHA256(KEY, ID as UTF-8): the same ID and
key always give the same pseudonym (runs can be resumed and compared), nobody without the key can compute it from a
guessed ID, and 48 bits keep the chance that two of 10,000 patients share a pseudonym below 1 in 5 million (a clash
is an error, never a silent merge). The key is never written anywhere; ``--pseudonym-map FILE`` writes the mapping
(patient IDs, and input paths to the output paths used for them) only to a file the user names, outside the output
folder.

Output paths then hold no patient ID: ``<pseudonym>/<visit_id>/<file name>`` for the folder convention; for a
``manifest.csv`` (whose file names may hold anything) ``<pseudonym>/<visit_id>/<region>[_<view>][-<n>]<suffix>``;
files with no patient (misplaced photos, ignored files) ``unassigned/<hash><suffix>``. The run folder remembers a
key identifier (a hash of the key, not the key), so one output folder never mixes identifying and pseudonymised file
names, or two keys.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
from pathlib import Path

from .files import atomic_write_text

MIN_KEY_CHARS = 16
DIGITS = 12
PREFIX = "ps_"
MARKER = ".pseudonym"  # OUT/.pseudonym: the key identifier of a pseudonymised run folder


class PseudonymError(ValueError):
    """A pseudonymisation problem the user must fix (short key, clash, output folder of another kind of run)."""


def read_key(spec: str) -> str:
    """The key of ``--pseudonymise``: the text itself, or with ``@FILE`` the first line of FILE (keeps the key out of
    the shell history and the process list)."""
    if spec.startswith("@"):
        try:
            lines = Path(spec[1:]).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise PseudonymError(f"cannot read the pseudonymisation key file {spec[1:]}: {exc.strerror}") from None
        spec = lines[0].strip() if lines else ""
    if len(spec) < MIN_KEY_CHARS:
        raise PseudonymError(f"pseudonymisation key too short ({len(spec)} characters; at least {MIN_KEY_CHARS}): "
                             "e.g. python -c \"import secrets; print(secrets.token_hex(16))\"")
    return spec


class Pseudonymiser:
    """Keyed pseudonyms of patient IDs and of input paths; remembers every mapping it made (for ``--pseudonym-map``)."""

    def __init__(self, key: str) -> None:
        if len(key) < MIN_KEY_CHARS:
            raise PseudonymError(f"pseudonymisation key too short ({len(key)} characters; at least {MIN_KEY_CHARS})")
        self._key = key.encode("utf-8")
        self.patients: dict[str, str] = {}
        self.paths: dict[str, str] = {}
        self._owner: dict[str, str] = {}

    def _digest(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:DIGITS]

    @property
    def key_id(self) -> str:
        """Identifies the key without revealing it (stored in the run folder)."""
        return self._digest("\0vitiseg key id")

    def patient(self, patient_id: str) -> str:
        """The pseudonym of a patient ID ("" stays "")."""
        if not patient_id:
            return ""
        p = self.patients.get(patient_id)
        if p is None:
            p = PREFIX + self._digest(patient_id)
            if self._owner.setdefault(p, patient_id) != patient_id:
                raise PseudonymError(f"two patient IDs share the pseudonym {p}; use another key")
            self.patients[patient_id] = p
        return p

    def unassigned(self, rel_path: str) -> str:
        """Output path of an input that belongs to no patient: ``unassigned/<hash><suffix>``."""
        return self.record_path(rel_path, f"unassigned/{self._digest(rel_path)}{posixpath.splitext(rel_path)[1]}")

    def record_path(self, rel_path: str, public: str) -> str:
        """Remember that the input ``rel_path`` appears as ``public`` in the outputs; returns ``public``."""
        self.paths[rel_path] = public
        return public

    def mapping_rows(self) -> list[dict[str, str]]:
        """``kind`` (patient / path), ``original``, ``pseudonym`` rows, sorted."""
        rows = [{"kind": "patient", "original": k, "pseudonym": v} for k, v in sorted(self.patients.items())]
        rows += [{"kind": "path", "original": k, "pseudonym": v} for k, v in sorted(self.paths.items())]
        return rows


def safe_component(text: str) -> str:
    """``text`` usable as one folder name: separators and the names ``.``/``..`` replaced by ``_``."""
    t = text.replace("/", "_").replace("\\", "_").replace("\0", "_")
    return "_" if t in ("", ".", "..") else t


def check_out_dir(out: Path, ps: Pseudonymiser | None) -> None:
    """Refuse (PseudonymError) an output folder that already holds results of a run of another kind: made without
    pseudonymisation when ``ps`` is given, with it (or with another key) otherwise. Then mark the folder."""
    marker = out / MARKER
    has_results = (out / ".records").is_dir() or (out / "photos.csv").is_file()
    before = marker.read_text(encoding="utf-8").strip() if marker.is_file() else None
    now = ps.key_id if ps else None
    if has_results and before != now:
        what = ("pseudonymised" if now is None else "not pseudonymised" if before is None
                else "pseudonymised with another key")
        raise PseudonymError(f"{out} holds results of a run that was {what}; use a new --out so that one folder never "
                             "mixes identifying and pseudonymised names")
    if now is not None and before != now:
        atomic_write_text(marker, now + "\n")
