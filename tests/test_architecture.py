"""The layering of docs/architecture.md, checked statically (ast, nothing imported): no import cycle
between modules of src/langadapt, dependencies point orchestration -> stages -> foundation, and no module
loads pipelines/ or components/ (or any file by path) dynamically.

    .venv/bin/pytest -q tests/test_architecture.py        # about a second

Every import counts, also those inside functions (a cycle through a function-level import works, but
the modules are not layered). ``from pkg import name`` depends on ``pkg.name`` when that is a module and
on ``pkg`` (its ``__init__``) when ``name`` is defined there.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "langadapt"
# the foundation imports nothing above it (docs/architecture.md)
FOUNDATION = ("langadapt.config", "langadapt.errors", "langadapt.io", "langadapt.records", "langadapt.storage", "langadapt.text")
# the CLI registers every area, orchestration's commands included; no stage imports orchestration
MAY_IMPORT_ORCHESTRATION = ("langadapt.cli", "langadapt.cli_project", "langadapt.orchestration")
# calls that load code by a computed name or a file path
DYNAMIC_LOADERS = {"import_module", "__import__", "spec_from_file_location", "SourceFileLoader", "run_path",
                   "run_module", "exec", "exec_module", "load_source"}
PROJECT_DIRS = ("pipelines", "components")


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / PACKAGE).rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def imports_of(module: str, path: Path) -> set[str]:
    """The langadapt modules ``module`` imports anywhere in its file (resolved: relative, package vs module)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
            found |= submodules
            if len(submodules) < len(node.names):  # a name defined in base itself
                found.add(base)
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: imports_of(m, p) for m, p in MODULES.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
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
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _edges_within(comp: list[str]) -> list[str]:
    return [f"{a} -> {b}" for a in comp for b in sorted(GRAPH[a]) if b in comp]


def test_the_import_walker_sees_function_level_and_package_imports():
    assert "langadapt.orchestration.stage" in GRAPH["langadapt.orchestration.rayjob"]  # top level
    assert "langadapt.orchestration.rayjob" in GRAPH["langadapt.orchestration.run"]  # inside run_component
    # `from langadapt.ifeval import case, ...` (submodules): the submodules, not the package __init__
    assert "langadapt.ifeval.case" in GRAPH["langadapt.ifeval.registry"]
    assert "langadapt.ifeval" not in GRAPH["langadapt.ifeval.registry"]
    # a name defined in a package __init__: the package itself
    assert "langadapt.text" in GRAPH["langadapt.corpus.quality"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_modules():
    found = cycles(GRAPH)
    assert not found, "import cycles (move the shared piece into a third module, or invert one import):\n" + \
        "\n".join(", ".join(_edges_within(c)) for c in found)


@pytest.mark.parametrize("module", [m for m in MODULES if _within(m, FOUNDATION)])
def test_foundation_imports_only_foundation(module):
    above = sorted(m for m in GRAPH[module] if not _within(m, FOUNDATION) and m != PACKAGE)
    assert not above, f"{module} (foundation) imports {above}"


def test_only_the_cli_and_orchestration_import_orchestration():
    bad = sorted(f"{m} -> {i}" for m, imps in GRAPH.items() for i in imps
                 if _within(i, ("langadapt.orchestration",)) and not _within(m, MAY_IMPORT_ORCHESTRATION))
    assert not bad, f"stages import orchestration (it must point orchestration -> stages): {bad}"


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _strings(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def test_no_dynamic_loading_of_pipelines_or_components():
    """pipelines/ and components/ are project files beside dvc.yaml: src/ never imports them (nor any file
    by path), so what orchestration runs is what its static imports say."""
    bad = []
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                bad += [f"{module}: import {n}" for n in names if n.split(".")[0] in PROJECT_DIRS]
            elif isinstance(node, ast.Call) and _callee(node) in DYNAMIC_LOADERS:
                by_path = _callee(node) in ("spec_from_file_location", "SourceFileLoader", "run_path", "load_source")
                named = any(d in s for s in _strings(node) for d in PROJECT_DIRS)
                if by_path or named:
                    bad.append(f"{module}:{node.lineno}: {_callee(node)}(...)")
    assert not bad, f"modules loaded dynamically from src/: {bad}"
