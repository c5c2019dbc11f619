"""``notebooks/walkthrough.ipynb`` runs top to bottom (nbclient, a fresh kernel) on the bundled example, made from
scratch in a temporary folder: a change of the API or of the example that breaks the notebook fails here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import REPO

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_walkthrough_notebook_runs_on_the_bundled_example(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VITISEG_EXAMPLE", str(tmp_path))  # the kernel inherits it: example and results go here
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nb = nbformat.read(REPO / "notebooks" / "walkthrough.ipynb", as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = json.dumps([o.get("text", "") for o in outputs])
    assert "facial area" in text and "report:" in text
    assert (tmp_path / "out_notebook" / "report.html").is_file()
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {}) for o in outputs)
