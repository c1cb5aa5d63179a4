"""The layer rules of docs/architecture.md, read from the code itself.

The import graph of ``src/vfx_ingest`` is built with ``ast`` from every import statement,
including those inside functions and under ``TYPE_CHECKING`` (a function-level import is
still a dependency; it only hides a cycle from Python, not from the design).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from conftest import REPO

SRC = REPO / "src"
PKG = "vfx_ingest"
LIBRARIES = ("io", "camera", "depth", "networks", "models", "roto", "matte")


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / PKG).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module that defines ``name`` (a module, or an attribute of one)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


UNRESOLVED: list[str] = []


def _targets(module: str, path: Path) -> set[str]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        stems: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
            stems = names
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            # `from pkg import sub` depends on the submodule, `from mod import name` on mod.
            names = [f"{stem}.{alias.name}" for alias in node.names]
            stems = [stem]
        for stem in stems:
            if stem.split(".")[0] == PKG and stem not in MODULES:
                UNRESOLVED.append(f"{module}: {stem}")  # moved or deleted: not in the graph
        for name in names:
            if name.split(".")[0] == PKG and (owner := _owner(name)) and owner != module:
                out.add(owner)
    return out


GRAPH = {module: _targets(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(GRAPH[nxt]))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _breaks(layers: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _layer(module) in layers
        for target in targets
        if _layer(target) in forbidden
    )


def test_the_graph_sees_function_level_and_relative_imports():
    # The checks below are only as good as the graph: spot-check edges of each kind.
    assert "vfx_ingest.worker.remote_io" in GRAPH["vfx_ingest.worker"]  # in a function
    assert "vfx_ingest.stages.camera_solve" in GRAPH["vfx_ingest.stages.camera"]
    assert "vfx_ingest.backends" in GRAPH["vfx_ingest.config"]  # `from .backends import`
    assert len(MODULES) > 100


def test_every_import_of_ours_names_a_module_that_exists():
    # An import of a moved or deleted module would drop out of the graph unseen.
    assert UNRESOLVED == []


def test_no_import_cycles():
    assert _cycles() == []


def test_libraries_import_no_stage_backend_config_or_cli():
    assert _breaks(LIBRARIES, ("stages", "backends", "config", "cli", "ui")) == []


def test_stages_import_no_backend_or_cli():
    assert _breaks(("stages",), ("backends", "cli", "ui")) == []


def test_the_worker_imports_no_backend():
    assert _breaks(("worker",), ("backends", "cli", "ui")) == []


def test_pipeline_cli_and_cost_name_no_backend():
    """Backend names live under backends/ only (data files such as catalog.toml aside)."""
    from vfx_ingest.backends import BACKENDS

    words = {spec.name for spec in BACKENDS.values() if spec.settings_key}
    words |= {spec.settings_key for spec in BACKENDS.values() if spec.settings_key}
    assert {"runpod", "modal"} <= words  # what this checks today
    pattern = re.compile("|".join(sorted(words)), re.IGNORECASE)
    files = [SRC / PKG / "pipeline.py", *(SRC / PKG / "cli").rglob("*.py")]
    files += (SRC / PKG / "cost").glob("*.py")
    hits = [
        f"{path.relative_to(SRC)}:{number}: {line.strip()}"
        for path in files
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def test_test_material_is_not_in_the_package():
    assert not (SRC / PKG / "synthetic").exists()
    assert (REPO / "tests" / "support" / "synthetic" / "render.py").is_file()
