"""Shared fixtures (helpers and constants are in ``helpers.py``): the generated visits folder and a procedural
training dataset. Tests run offline and single-threaded.

Tests that need PyTorch (``vitiseg[train]``) carry the ``torch`` marker and are skipped where it is not installed;
a module that imports torch at its top calls ``pytest.importorskip("torch")`` first. CI runs the rest in an
environment without torch and the ``torch`` tests in one with it (``.ci/run``)."""

from __future__ import annotations

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from helpers import write_visits  # noqa: E402


HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if HAS_TORCH:
        return
    skip = pytest.mark.skip(reason="needs PyTorch: pip install 'vitiseg[train]'")
    for item in items:
        if item.get_closest_marker("torch") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Results of the tiny networks must not depend on the machine's core count; the CI machine is shared."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def visits_dir(tmp_path: Path) -> Path:
    """A small visits folder of colour-keyed PNG photos (see ``helpers.VISITS_DESIGN``)."""
    return write_visits(tmp_path / "visits")


@pytest.fixture(scope="session")
def proc_dataset(tmp_path_factory) -> Path:
    """Procedural ``classes`` dataset: 8 photos of 64 px, 6 train and 2 val."""
    from vitiseg.training.data import write_procedural_dataset

    return write_procedural_dataset(tmp_path_factory.mktemp("proc"), n=8, size=64, seed=0)


# Hypothesis: no per-example deadline. The suite runs on shared CI machines, where a slow example is not a bug.
settings.register_profile("vitiseg", deadline=None)
settings.load_profile("vitiseg")
