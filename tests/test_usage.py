"""The checks of a user's paths: each mistake is a UsageError naming the path, never a half-made folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from vitiseg.usage import UsageError, require_input_dir, require_output_dir, require_outside


def test_output_folder_inside_the_inputs_is_refused_but_a_sibling_is_not(tmp_path: Path) -> None:
    v = tmp_path / "visits"
    v.mkdir()
    for bad in (v, v / "out", v / "a" / "b"):
        with pytest.raises(UsageError, match="inside the visits folder"):
            require_outside(bad, v)
    require_outside(tmp_path / "visits_out", v)  # same prefix, not inside
    require_outside(tmp_path, v)  # the visits folder inside the output folder is harmless


def test_input_and_output_folders(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(UsageError, match="not found"):
        require_input_dir(tmp_path / "nope", "visits folder")
    with pytest.raises(UsageError, match="is not a folder"):
        require_input_dir(f, "visits folder")
    with pytest.raises(UsageError, match="is a file"):
        require_output_dir(f)
    with pytest.raises(UsageError, match="cannot create"):
        require_output_dir(f / "sub")
    assert require_output_dir(tmp_path / "a" / "b").is_dir()
