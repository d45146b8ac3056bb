"""The source files each DVC stage runs, derived from its imports, checked against dvc.yaml's deps.

    langadapt dvc-deps              # the derived deps per stage
    langadapt dvc-deps --check      # exit 1 listing, per stage, source deps missing from dvc.yaml or extra
    langadapt dvc-deps --write      # rewrite the src/ entries of each stage's deps in dvc.yaml

Why: a stage reruns when a dep changes, so a source file its command imports but dvc.yaml does not
list is a change that silently reruns nothing, and a listed file it never imports reruns it for nothing.

How (static, no import of the stage's code): a stage's ``cmd`` ``langadapt <name> ...`` is looked up in
the CLI app the caller passes (``langadapt.cli.app``; passed in, so this module does not import the CLI
that registers it) to find the function that implements it. Its roots are the imports of
its module's top level, the imports inside that function, and, transitively, those inside the module's
own functions it calls by name (e.g. a shared ``_run_stage``). Other commands' bodies in the same module
are not roots. From there the closure follows every ``langadapt`` import of every reached module (top
level and function bodies alike: conservative), with the ``__init__.py`` of each package on the way.
A module that names a non-package subdirectory of its package in a string literal
(``Path(__file__).parent / "languages"``) also depends on the data files in it, and one that names a
non-Python file beside it (``"other_languages.yaml"``) on that file. Imports done by
``importlib`` with a computed name are not seen.

``src/`` entries of dvc.yaml are compared exactly: a directory entry stands for every file under it
(``__pycache__`` aside), so a directory that holds files the stage never imports is reported as extra.
``--write`` lists a directory when the stage needs every file under it, else the files; entries outside
``src/`` (data, outputs of other stages) are left as they are, and so are comments on kept lines.
"""

from __future__ import annotations

import ast
import functools
import inspect
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from langadapt.errors import ConfigError

PACKAGE = "langadapt"
SRC_PREFIX = "src/"


@dataclass
class StageDeps:
    stage: str
    command: str
    derived: list[str]  # the src/ entries dvc.yaml should list (directories collapsed)
    listed: list[str]  # the src/ entries dvc.yaml lists
    missing: list[str] = field(default_factory=list)  # files imported but not covered by the listed entries
    extra: list[str] = field(default_factory=list)  # files covered by the listed entries but never imported


# ---------------------------------------------------------------------------------------------------
# The import closure


class SourceTree:
    """Module names <-> files under ``src_dir/langadapt``, and each module's parsed imports (cached)."""

    def __init__(self, src_dir: Path):
        self.src = src_dir
        self._ast: dict[Path, ast.Module] = {}
        self._imports: dict[Path, set[str]] = {}
        self._data: dict[Path, set[Path]] = {}

    def file_of(self, module: str) -> Path | None:
        base = self.src.joinpath(*module.split("."))
        for cand in (base.with_suffix(".py"), base / "__init__.py"):
            if cand.is_file():
                return cand
        return None

    def module_of(self, path: Path) -> str:
        rel = path.relative_to(self.src).with_suffix("")
        parts = list(rel.parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    def parse(self, path: Path) -> ast.Module:
        if path not in self._ast:
            self._ast[path] = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        return self._ast[path]

    def package_inits(self, module: str) -> list[Path]:
        """``__init__.py`` of every package that importing ``module`` executes."""
        parts = module.split(".")
        out = []
        for i in range(1, len(parts) + 1):
            f = self.src.joinpath(*parts[:i], "__init__.py")
            if f.is_file():
                out.append(f)
        return out

    def imported_modules(self, node: ast.AST, here: Path) -> set[str]:
        """``langadapt`` modules imported anywhere in ``node`` (``from m import x``: m.x too if a module)."""
        found: set[str] = set()
        current = self.module_of(here)
        package = current if here.name == "__init__.py" else current.rpartition(".")[0]
        for n in ast.walk(node):
            if isinstance(n, ast.Import):
                found.update(a.name for a in n.names if _ours(a.name))
            elif isinstance(n, ast.ImportFrom):
                base = _absolute(n.module, n.level, package)
                if base is None or not _ours(base):
                    continue
                found.add(base)
                for a in n.names:
                    if a.name != "*" and self.file_of(f"{base}.{a.name}") is not None:
                        found.add(f"{base}.{a.name}")
        return found

    def file_imports(self, path: Path) -> set[str]:
        if path not in self._imports:
            self._imports[path] = self.imported_modules(self.parse(path), path)
        return self._imports[path]

    def data_files(self, path: Path) -> set[Path]:
        """Files of non-package subdirectories of the module's package, and its non-Python files, that it
        names in a string literal."""
        if path not in self._data:
            self._data[path] = self._data_files(path)
        return self._data[path]

    def _data_files(self, path: Path) -> set[Path]:
        pkg_dir = path.parent
        tree = self.parse(path)
        names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        out: set[Path] = set()
        for sub in pkg_dir.iterdir():
            if sub.is_dir() and sub.name in names and not (sub / "__init__.py").exists():
                out.update(f for f in _files_under(sub))
            elif sub.is_file() and sub.name in names and sub.suffix != ".py":
                out.add(sub)
        return out

    def closure(self, roots: set[str], pinned: frozenset[Path] = frozenset()) -> set[Path]:
        """Every source file reached from the ``roots`` modules (plus package __init__s and data files).

        ``pinned`` files are in the result but their imports are not followed (a command module: only
        the command's own part of it counts, see ``command_roots``).
        """
        seen: set[Path] = set(pinned)
        todo = list(roots)
        while todo:
            mod = todo.pop()
            f = self.file_of(mod)
            if f is None:
                continue
            for path in [*self.package_inits(mod), f]:
                if path in seen:
                    continue
                seen.add(path)
                todo.extend(self.file_imports(path))
        data: set[Path] = set()
        for path in seen:
            data |= self.data_files(path)
        return seen | data


def _ours(module: str) -> bool:
    return module == PACKAGE or module.startswith(PACKAGE + ".")


def _absolute(module: str | None, level: int, package: str) -> str | None:
    if level == 0:
        return module
    parts = package.split(".")
    if level - 1 > len(parts):
        return None
    base = ".".join(parts[: len(parts) - (level - 1)])
    return f"{base}.{module}" if module else base


@functools.cache
def _files_under(d: Path) -> tuple[Path, ...]:
    """Files under ``d`` (cached for one ``derive``: it clears the cache first)."""
    return tuple(sorted(
        p for p in d.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    ))


def command_roots(tree: SourceTree, fn: Any) -> set[str]:
    """The modules a command function's module imports at top level, in its body and in its helpers."""
    fn = inspect.unwrap(fn)
    path = _module_file(tree, fn)
    module_ast = tree.parse(path)
    roots = {tree.module_of(path).rpartition(".")[0]} - {""}  # its package (the __init__ chain)
    top_funcs = {n.name: n for n in module_ast.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    for stmt in module_ast.body:  # top-level imports, also under if/try (not those inside functions)
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            roots |= tree.imported_modules(stmt, path)
    target = _find_function(module_ast, fn)
    todo, done = [target], set()
    while todo:
        node = todo.pop()
        if id(node) in done:
            continue
        done.add(id(node))
        roots |= tree.imported_modules(node, path)
        called = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
        todo.extend(top_funcs[c] for c in called if c in top_funcs)
    return roots


def _module_file(tree: SourceTree, fn: Any) -> Path:
    path = tree.file_of(fn.__module__)
    if path is None:
        raise ConfigError(f"{fn.__module__}: the module of command {fn.__name__!r} is not under {tree.src}")
    return path


def _find_function(module_ast: ast.Module, fn: Any) -> ast.AST:
    first = fn.__code__.co_firstlineno
    for n in ast.walk(module_ast):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == fn.__name__:
            lines = {n.lineno, *(d.lineno for d in n.decorator_list)}
            if first in lines:
                return n
    raise ConfigError(f"{fn.__module__}.{fn.__qualname__}: source not found for the import check")


# ---------------------------------------------------------------------------------------------------
# dvc.yaml stages -> CLI commands


def cli_command(argv: list[str], app: Any) -> Any:
    """The function run by ``langadapt <name> [<sub>...]`` in the Typer ``app`` (None if argv is not a
    langadapt command)."""
    if not argv or Path(argv[0]).name != PACKAGE:
        return None
    group, words = app, [w for w in argv[1:] if not w.startswith("-")]
    for i, word in enumerate(words):
        for c in group.registered_commands:
            name = c.name or (c.callback.__name__.replace("_", "-") if c.callback else "")
            if name == word:
                return c.callback
        sub = next((g for g in group.registered_groups if g.name == word), None)
        if sub is None or sub.typer_instance is None:
            raise ConfigError(f"`{' '.join(argv)}`: no langadapt command {' '.join(words[: i + 1])!r}")
        group = sub.typer_instance
    return None


def _stage_cmd(stage: dict[str, Any]) -> str:
    body = stage.get("do", stage)  # foreach/matrix stages keep cmd under do:
    cmd = body.get("cmd", "")
    cmds = cmd if isinstance(cmd, list) else [cmd]
    return next((c for c in cmds if c.strip().startswith(PACKAGE)), cmds[0] if cmds else "")


def load_stages(dvc_yaml: Path) -> dict[str, dict[str, Any]]:
    try:
        doc = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"{dvc_yaml}: cannot read ({e})") from None
    stages = doc.get("stages")
    if not isinstance(stages, dict):
        raise ConfigError(f"{dvc_yaml}: no `stages:` mapping")
    return stages


def derive(root: Path, dvc_yaml: Path | None = None, *, app: Any) -> list[StageDeps]:
    """Per langadapt stage of dvc.yaml: the derived src/ deps, the listed ones, and the differences.
    ``app``: the ``langadapt`` Typer app whose commands the stages run."""
    root = root.resolve()
    _files_under.cache_clear()
    dvc_yaml = dvc_yaml or root / "dvc.yaml"
    tree = SourceTree(root / "src")
    out = []
    for name, stage in load_stages(dvc_yaml).items():
        cmd = _stage_cmd(stage)
        fn = cli_command(shlex.split(cmd), app) if cmd else None
        if fn is None:
            continue  # not a langadapt command: nothing to derive
        cmd_file = _module_file(tree, inspect.unwrap(fn))
        files = tree.closure(command_roots(tree, fn), pinned=frozenset({cmd_file}))
        rel = {p.relative_to(root).as_posix() for p in files}
        deps = (stage.get("do", stage).get("deps") or [])
        listed = [d for d in deps if isinstance(d, str) and d.startswith(SRC_PREFIX)]
        covered = set()
        for d in listed:
            covered |= _expand(root, d)
        out.append(
            StageDeps(
                stage=name,
                command=cmd,
                derived=collapse(root, rel),
                listed=listed,
                missing=sorted(rel - covered),
                extra=sorted(covered - rel),
            )
        )
    return out


def _expand(root: Path, entry: str) -> set[str]:
    p = root / entry.rstrip("/")
    if p.is_dir():
        return {f.relative_to(root).as_posix() for f in _files_under(p)}
    return {entry}


def collapse(root: Path, files: set[str]) -> list[str]:
    """The shortest list of entries covering exactly ``files``: a directory when all its files are in."""
    out: list[str] = []
    src = root / "src"

    def visit(d: Path) -> None:
        under = {f.relative_to(root).as_posix() for f in _files_under(d)}
        if under and under <= files:
            out.append(d.relative_to(root).as_posix())
            return
        for child in sorted(d.iterdir()):
            if child.is_dir() and child.name != "__pycache__":
                visit(child)
            elif child.is_file() and child.relative_to(root).as_posix() in files:
                out.append(child.relative_to(root).as_posix())

    for top in sorted(src.iterdir()):
        if top.is_dir():
            visit(top)
    return sorted(out)


# ---------------------------------------------------------------------------------------------------
# --check and --write


def check_report(results: list[StageDeps]) -> list[str]:
    """One line per difference; empty when dvc.yaml lists exactly what each stage imports."""
    lines = []
    for r in results:
        lines += [f"{r.stage}: missing {f}" for f in r.missing]
        lines += [f"{r.stage}: extra {f}" for f in r.extra]
    return lines


def rewrite_deps(text: str, derived: dict[str, list[str]]) -> str:
    """dvc.yaml text with each stage's src/ deps entries replaced by ``derived[stage]``.

    A line-based edit: other entries, their order and comments stay; a kept src/ entry keeps its line
    (and its comment); new entries go where the first src/ entry was (else after the last entry).
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    in_stages, stage_indent, stage = False, None, None
    i = 0
    while i < len(lines):
        line, ind, s = lines[i], _indent(lines[i]), lines[i].strip()
        if s and not s.startswith("#") and ind == 0:
            in_stages, stage_indent, stage = s == "stages:", None, None
        elif in_stages and _is_key(line):
            stage_indent = ind if stage_indent is None else stage_indent
            if ind == stage_indent:
                stage = s[:-1].strip()
        if in_stages and stage in derived and s == "deps:" and ind > (stage_indent or 0):
            j = i + 1
            while j < len(lines) and _in_block(lines[j], ind):
                j += 1
            out.append(line)
            out.extend(_new_block(lines[i + 1 : j], derived[stage], ind))
            i = j
            continue
        out.append(line)
        i += 1
    return "".join(out)


def _in_block(line: str, deps_indent: int) -> bool:
    s = line.strip()
    return not s or (s.startswith(("-", "#")) and _indent(line) > deps_indent)


def _new_block(block: list[str], wanted: list[str], deps_indent: int) -> list[str]:
    items = [ln for ln in block if ln.lstrip().startswith("-")]
    item_indent = _indent(items[0]) if items else deps_indent + 2
    old_src = {_item_value(ln): ln for ln in items if _item_value(ln).startswith(SRC_PREFIX)}
    new_src = [old_src.get(w) or f"{' ' * item_indent}- {w}\n" for w in wanted]
    out: list[str] = []
    placed = False
    for ln in block:
        if ln.lstrip().startswith("-") and _item_value(ln).startswith(SRC_PREFIX):
            if not placed:
                out.extend(new_src)
                placed = True
            continue
        out.append(ln)
    if not placed:
        last = max((k for k, ln in enumerate(out) if ln.lstrip().startswith("-")), default=-1)
        out[last + 1 : last + 1] = new_src
    return out


def _item_value(line: str) -> str:
    v = line.strip()[1:].split(" #", 1)[0].strip()
    return v.strip("'\"")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_key(line: str) -> bool:
    s = line.strip()
    return bool(s) and not s.startswith(("#", "-")) and s.endswith(":")


def write(root: Path, dvc_yaml: Path | None = None, *, app: Any) -> list[StageDeps]:
    """Rewrite dvc.yaml's src/ deps to the derived ones (atomically); returns the results before."""
    from langadapt.io import atomic_write

    dvc_yaml = dvc_yaml or root / "dvc.yaml"
    results = derive(root, dvc_yaml, app=app)
    text = dvc_yaml.read_text(encoding="utf-8")
    new = rewrite_deps(text, {r.stage: r.derived for r in results})
    if new != text:
        with atomic_write(dvc_yaml) as f:
            f.write(new)
    return results
