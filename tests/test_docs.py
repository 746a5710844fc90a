"""README.md documents every command, subcommands of groups included (sqlite-utils' test_docs.py).

A command counts as documented when its full invocation appears, e.g. ``kepuxl forms check``.
"""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from kepu_xl.cli import cli

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
