"""README.md documents every command, subcommands of groups included (sqlite-utils' test_docs.py), and
docs/architecture.md names every module of kepu_xl and every key of the collect report.

A command counts as documented when its full invocation appears, e.g. ``kepuxl forms check``.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from conftest import init_sample

from kepu_xl.cli import cli
from kepu_xl.collection import collect
from kepu_xl.context import CONFIG_NAME

README = Path(__file__).resolve().parents[1] / "README.md"


def command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[str]:
    """Every command under `group` as its words after `kepuxl`, groups and their subcommands alike."""
    paths = []
    for name, command in sorted(group.commands.items()):
        if command.hidden:
            continue
        paths.append(" ".join((*prefix, name)))
        if isinstance(command, click.Group):
            paths.extend(command_paths(command, (*prefix, name)))
    return paths


def test_the_walk_finds_subcommands() -> None:
    assert {"init", "make-forms", "forms", "forms list", "forms check"} <= set(command_paths(cli))


@pytest.fixture(scope="module")
def readme() -> str:
    return README.read_text(encoding="utf-8") if README.exists() else ""


@pytest.mark.parametrize("command", command_paths(cli))
def test_command_is_documented(readme: str, command: str) -> None:
    assert README.exists(), f"{README.name} is missing"
    assert f"kepuxl {command}" in readme, f"README.md does not mention `kepuxl {command}`"


# -- docs/architecture.md: the map of the code --------------------------------------------------------------

ARCHITECTURE = README.with_name("docs") / "architecture.md"
PACKAGE = README.with_name("kepu_xl")


def module_names() -> list[str]:
    """Every module of kepu_xl as docs/architecture.md names it: `audit.py`, `intake/base.py`, and a
    subpackage by its folder, `intake/`."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        names.append(rel.removesuffix("__init__.py") if "/" in rel else rel)
    return names


def test_the_module_walk_finds_subpackages() -> None:
    assert {"__init__.py", "cli.py", "intake/", "intake/bytecheck.py", "mail/", "web/app.py"} <= set(
        module_names()
    )


@pytest.mark.parametrize("module", module_names())
def test_every_module_is_on_the_map(module: str) -> None:
    text = ARCHITECTURE.read_text(encoding="utf-8")
    assert re.search(rf"^- `{re.escape(module)}` — ", text, re.M), (
        f"docs/architecture.md has no line for {module}"
    )


def test_the_maps_collect_report_names_every_key_the_report_has(tmp_path: Path) -> None:
    """The collect report's schema, in docs/architecture.md and in the README's English section, names every
    key a real report has (top level, a unit, a file, a finding, the outputs)."""
    folder = init_sample(tmp_path / "县", with_returns=True)
    report = collect(folder / "inbox", folder / CONFIG_NAME).to_dict()
    keys = set(report) | set(report["units"][0]) | set(report["files"][0]) | set(report["findings"][0])
    keys |= set(report["outputs"])
    doc = ARCHITECTURE.read_text(encoding="utf-8")
    schema = doc[doc.index("- **The collect report**") : doc.index("- **Severities.**")]
    english = README.read_text(encoding="utf-8").split("# kepuxl (English)", 1)[1]
    english = english[english.index("The report of `collect`") : english.index("## Verify before totals")]
    for text in (schema, english):
        named = set(re.findall(r"`(\w+)(?:\[\]|\{[^`]*\})?`", text))
        assert sorted(keys - named) == []
