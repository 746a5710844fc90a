"""What the package imports, read from its source (issue 14): the declared dependencies are exactly the
third-party libraries it imports, its modules import each other without a cycle (function-level imports
included), and `kepuxl --help` loads none of the heavy libraries.

Imports are read with `ast` from every module of kepu_xl: module level, inside functions and methods,
`importlib.import_module` with a constant name, and the package's lazy exports (`from kepu_xl import
collect` loads the module `kepu_xl._EXPORTS` names). An import under `if TYPE_CHECKING:` never runs and
does not count.
"""

from __future__ import annotations

import ast
import importlib.metadata
import itertools
import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

import kepu_xl

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kepu_xl"
HEAVY = ("xlsxwriter", "openpyxl", "pandas", "numpy", "lxml", "flask", "werkzeug", "jinja2", "waitress")


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name, for its __init__.py)."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node, except what sits under `if TYPE_CHECKING:` (its `else:` does run)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def _import_module_name(call: ast.Call, package: str) -> str | None:
    """The module an `importlib.import_module(...)` call loads, when its name is written out."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name != "import_module" or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and len(arg.values) == 2:
        head, tail = arg.values
        if (
            isinstance(head, ast.FormattedValue)
            and isinstance(head.value, ast.Name)
            and head.value.id == "__package__"
            and isinstance(tail, ast.Constant)
        ):
            return package + str(tail.value)
    return None  # computed at run time (kepu_xl/__init__.py: the lazy exports, counted by name)


def imports(name: str, path: Path) -> Iterator[tuple[str, str, int]]:
    """(module imported, name taken from it or "", line) for each import statement that runs."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    for node in _nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                yield base, alias.name, node.lineno
        elif isinstance(node, ast.Call):
            loaded = _import_module_name(node, package)
            if loaded:
                yield loaded, "", node.lineno


def _ancestors(name: str) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def edges(name: str, path: Path, known: dict[str, Path] = MODULES) -> Iterator[tuple[str, int]]:
    """The package's own modules that `name` makes Python run, with the line that does it.

    `from pkg import x` runs pkg (its __init__) and, when x is a module, pkg.x; a module's own parent
    packages are always running already and are left out.
    """
    mine = _ancestors(name)
    for module, taken, line in imports(name, path):
        targets = []
        if module in known:
            targets.append(module)
        if taken and f"{module}.{taken}" in known:
            targets.append(f"{module}.{taken}")
        if module == "kepu_xl" and taken in kepu_xl._EXPORTS:  # a lazy export loads its module
            targets.append(f"kepu_xl.{kepu_xl._EXPORTS[taken]}")
        for target in targets:
            if target != name and target not in mine:
                yield target, line


def graph() -> dict[str, dict[str, int]]:
    return {name: dict(edges(name, path)) for name, path in MODULES.items()}


def cycles(g: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle through each strongly connected component larger than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in g[v]:
                components.append(component)

    for v in sorted(g):
        if v not in index:
            visit(v)
    return [_a_cycle(g, set(c)) for c in components]


def _a_cycle(g: dict[str, dict[str, int]], members: set[str]) -> list[str]:
    """A path start → … → start inside one component, for the failure message."""
    start = min(members)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(g[v]):
            if w == start:
                return [*paths[v], start]
            if w in members and w not in paths:
                paths[w] = [*paths[v], w]
                queue.append(w)
    return sorted(members)


def _shown(g: dict[str, dict[str, int]], cycle: list[str]) -> str:
    return " → ".join(f"{a} (line {g[a][b]})" for a, b in itertools.pairwise(cycle)) + f" → {cycle[-1]}"


# -- no import cycle ---------------------------------------------------------------------------------------


def test_the_package_imports_without_a_cycle() -> None:
    g = graph()
    found = cycles(g)
    assert not found, "\n".join(_shown(g, c) for c in found)


def test_the_cycle_check_sees_function_level_imports_and_skips_type_only_ones(tmp_path: Path) -> None:
    """The reader of imports itself: a cycle closed inside a function counts, one under TYPE_CHECKING
    does not; relative imports and import_module resolve to the package's modules."""
    a = tmp_path / "a.py"
    a.write_text(
        "from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n    from .c import C\n",
        encoding="utf-8",
    )
    b = tmp_path / "b.py"
    b.write_text("import importlib\ndef later():\n    from .c import f\n", encoding="utf-8")
    c = tmp_path / "c.py"
    c.write_text(
        "import importlib\ndef load():\n    importlib.import_module(f'{__package__}.a')\n", encoding="utf-8"
    )
    fake = {"kepu_xl.a": a, "kepu_xl.b": b, "kepu_xl.c": c}
    g = {name: dict(edges(name, path, fake)) for name, path in fake.items()}
    assert g == {"kepu_xl.a": {"kepu_xl.b": 2}, "kepu_xl.b": {"kepu_xl.c": 3}, "kepu_xl.c": {"kepu_xl.a": 3}}
    assert cycles(g) == [["kepu_xl.a", "kepu_xl.b", "kepu_xl.c", "kepu_xl.a"]]
    del g["kepu_xl.c"]["kepu_xl.a"]
    assert cycles(g) == []


# -- dependencies that tell the truth ----------------------------------------------------------------------


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {_normal(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}


def _normal(dist: str) -> str:
    return re.sub(r"[-_.]+", "-", dist).lower()


def third_party() -> dict[str, list[str]]:
    """Top-level name of each third-party library the package imports → where (module:line)."""
    found: dict[str, list[str]] = {}
    for name, path in MODULES.items():
        for module, _, line in imports(name, path):
            top = module.split(".")[0]
            if top and top != "kepu_xl" and top not in sys.stdlib_module_names:
                found.setdefault(top, []).append(f"{name}:{line}")
    return found


def test_every_declared_dependency_is_imported_and_every_import_declared() -> None:
    by_module = importlib.metadata.packages_distributions()
    imported = {}
    for top, where in third_party().items():
        dists = by_module.get(top)
        assert dists, f"{top} (imported at {where[0]}) belongs to no installed distribution"
        for dist in dists:
            imported[_normal(dist)] = where
    declared = _declared()
    assert sorted(set(imported) - declared) == [], "imported but not declared in pyproject.toml"
    assert sorted(declared - set(imported)) == [], "declared in pyproject.toml but imported nowhere"


def test_the_readme_credits_only_what_is_imported() -> None:
    """A library the README names as doing work here (a parser, a server) is one the package imports."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for gone in ("calamine", "defusedxml", "odfpy"):
        assert gone not in readme
    imported = set(third_party())
    for library in ("lxml", "xlrd", "olefile", "openpyxl", "xlsxwriter", "pandas", "flask", "waitress"):
        if library in readme.lower():
            assert library in imported, library


# -- `kepuxl --help` stays fast ----------------------------------------------------------------------------


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True, timeout=60
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "code",
    [
        "import kepu_xl.cli",
        "from kepu_xl.cli import cli\ntry:\n    cli(['--help'])\nexcept SystemExit:\n    pass",
        "from kepu_xl.cli import cli\ntry:\n    cli(['collect', '--help'])\nexcept SystemExit:\n    pass",
    ],
    ids=["import", "help", "collect-help"],
)
def test_the_cli_loads_no_heavy_library_before_a_command_runs(code: str) -> None:
    loaded = _loaded_after(code)
    assert "kepu_xl.cli" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []


def test_a_worker_reads_and_audits_returns_without_openpyxl_numpy_or_pandas(tmp_path: Path) -> None:
    """A spawned worker (Windows) imports what reading a return needs and nothing more: openpyxl brings
    numpy (~0.4 s a process); they are for writing and for the summary, not for reading."""
    from conftest import init_sample

    folder = init_sample(tmp_path / "县", with_returns=True)
    code = (
        "from pathlib import Path\n"
        "from kepu_xl import collection, intake\n"
        "from kepu_xl.context import Context\n"
        f"ctx = Context.load(Path({str(folder / 'kepuxl.toml')!r}))\n"
        f"done = [collection.process(c, ctx) for c in intake.scan(Path({str(folder / 'inbox')!r}), defer=True)]\n"
        "assert sum(1 for p in done if p.file.values) >= 20, len(done)\n"
    )
    loaded = _loaded_after(code)
    assert "kepu_xl.audit" in loaded and "lxml.etree" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("openpyxl", "numpy", "pandas")] == []


def test_every_lazy_export_resolves() -> None:
    """`from kepu_xl import collect` (and every other public name) gives the job it names."""
    probe = (
        "import kepu_xl\n"
        "for name in kepu_xl._EXPORTS:\n"
        "    assert callable(getattr(kepu_xl, name)), name\n"
        "print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr[-2000:]
