"""The import structure of the package and of the scripts beside it, checked statically (AST):

- no import cycle between vitiseg modules, of any length (imports inside functions count);
- no private name (``_x``) of a vitiseg module used from another module, in vitiseg/ or scripts/;
- every vitiseg name a script imports exists (a script is not left behind by a change of the package);
- no ``sys.path`` manipulation in scripts/: they run against the installed package;
- the inference path (everything but training, the PyTorch backend and the ONNX export) needs no training package.
"""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, sample_photos, save

PACKAGE = REPO / "vitiseg"
SCRIPTS = sorted((REPO / "scripts").glob("*.py"))
MODULES = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
           for p in sorted(PACKAGE.rglob("*.py"))}


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rsplit(".", 1)[0]


def _imports(path: Path, module: str | None) -> list[tuple[str, str | None, ast.AST]]:
    """``(imported module, imported name or None, node)`` of every import in a file, relative ones resolved
    (``module``: the file's dotted name, None for a script)."""
    out = []
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(n, ast.Import):
            out += [(a.name, None, n) for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            if n.level:
                assert module is not None, f"{path}: relative import outside the package"
                parts = _package_of(module, path).split(".")
                base = ".".join(parts[: len(parts) - n.level + 1])
                target = f"{base}.{n.module}" if n.module else base
            else:
                target = n.module or ""
            out += [(target, a.name, n) for a in n.names]
    return out


def _dependencies(module: str, path: Path) -> set[str]:
    """The vitiseg modules that ``module`` imports (a name that is itself a module counts as that module)."""
    deps = set()
    for target, name, _ in _imports(path, module):
        dotted = f"{target}.{name}" if name else target
        deps.add(dotted if dotted in MODULES else target)
    return {d for d in deps if d in MODULES and d != module and MODULES[d].name != "__init__.py"}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_long_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_package() -> None:
    graph = {m: _dependencies(m, p) for m, p in MODULES.items()}
    assert len(graph) > 60 and graph["vitiseg.pipeline.executors"] >= {"vitiseg.pipeline.photo"}
    assert _cycles(graph) == []


def _private_uses(path: Path, module: str | None) -> list[str]:
    """``from vitiseg.x import _y`` and ``x._y`` on an imported vitiseg module, outside that module."""
    found = []
    bound: dict[str, str] = {}  # local name -> vitiseg module it is bound to
    for target, name, node in _imports(path, module):
        if not target.startswith("vitiseg"):
            continue
        if name is None:
            for a in node.names:  # type: ignore[attr-defined]
                if a.name == target:
                    bound[a.asname or a.name] = target
            continue
        if name.startswith("_") and not name.startswith("__"):
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: from {target} import {name}")
        dotted = f"{target}.{name}"
        if dotted in MODULES:
            for a in node.names:  # type: ignore[attr-defined]
                if a.name == name:
                    bound[a.asname or a.name] = dotted
    for n in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in bound
                and n.attr.startswith("_") and not n.attr.startswith("__") and bound[n.value.id] != module):
            found.append(f"{path.relative_to(REPO)}:{n.lineno}: {n.value.id}.{n.attr}")
    return found


def test_no_private_name_is_used_outside_its_module() -> None:
    found = [u for m, p in MODULES.items() for u in _private_uses(p, m)]
    found += [u for p in SCRIPTS for u in _private_uses(p, None)]
    assert found == []


TORCH_MODULES = ("torch", "vitiseg.training.trainer", "vitiseg.training.batches", "vitiseg.training.loss",
                 "vitiseg.training.device_batches", "vitiseg.segmentation.unet")


def _needs_torch(script: Path) -> bool:
    """A script whose top-level imports need PyTorch (checked where vitiseg[train] is installed)."""
    body = ast.parse(script.read_text(encoding="utf-8")).body
    names = [a.name for n in body if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in body if isinstance(n, ast.ImportFrom)]
    return any(m == t or m.startswith(t + ".") for m in names for t in TORCH_MODULES)


@pytest.mark.parametrize("script", [pytest.param(s, marks=pytest.mark.torch) if _needs_torch(s) else s
                                    for s in SCRIPTS], ids=lambda p: p.name)
def test_scripts_import_existing_public_names_without_path_tricks(script: Path) -> None:
    text = script.read_text(encoding="utf-8")
    assert "sys.path" not in text, f"{script.name} changes sys.path; scripts run against the installed package"
    for target, name, node in _imports(script, None):
        if not target.startswith("vitiseg"):
            continue
        mod = importlib.import_module(target)
        if name is not None:
            assert hasattr(mod, name) or f"{target}.{name}" in MODULES, (
                f"{script.name}:{node.lineno}: {target} has no {name}")


TRAINING_ONLY = ("vitiseg.training", "vitiseg.segmentation.unet", "vitiseg.segmentation.export")
TRAINING_PACKAGES = ("torch", "torchvision", "segmentation_models_pytorch", "timm", "kornia", "safetensors", "onnx",
                     "onnxscript")
NO_TRAINING_PACKAGES = f"""
import importlib, importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {TRAINING_PACKAGES!r}:
            raise ImportError(f"{{name}} is a training dependency (vitiseg[train])")
sys.meta_path.insert(0, Refuse())
"""


def test_the_inference_path_imports_and_runs_without_training_packages(tmp_path: Path) -> None:
    """Every module but training, the PyTorch backend and the export imports with torch & co. refused, and
    `vitiseg run` measures photos with the shipped U-Net (ONNX Runtime) in that interpreter."""
    inference = [m for m in MODULES if not m.startswith(TRAINING_ONLY) and m != "vitiseg.__main__"]
    assert "vitiseg.pipeline.run" in inference and "vitiseg.segmentation.onnx_runtime" in inference
    visits = tmp_path / "visits"
    for (name, rgb), region in zip(sample_photos(2, seed=4), ("hands", "trunk")):
        save(visits / "P01" / "baseline" / f"{region}.png", rgb)
    code = NO_TRAINING_PACKAGES + f"""
for m in {inference!r}:
    importlib.import_module(m)
from vitiseg.cli import main
rc = main(["run", {str(visits)!r}, "--out", {str(tmp_path / "out")!r}, "--no-progress", "--no-report",
           "--face-area", "skin"])
assert not [m for m in sys.modules if m.split(".")[0] in {TRAINING_PACKAGES!r}]
sys.exit(rc)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((tmp_path / "out" / "run.json").read_text())
    assert summary["model"]["backend"] == "onnx" and summary["counts"]["ok"] == 2
