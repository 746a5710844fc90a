"""kepuxl speaks Chinese in click's parts too (kepu_xl/cli_zh.py): every command's help, the usage line, the
usage errors and --version.

The help of every command and group is walked and checked for English prose: an ASCII word is allowed only
when it is an option, a command, an argument's metavar, a path or file name, an identifier (a_b, A=B) or a
known name (kepuxl, SMTP, QQ…). The common usage errors are checked for their exact Chinese text and exit 2.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kepu_xl import cli_zh
from kepu_xl.cli import cli

NAMES = {
    "kepuxl",
    "inbox",
    "cd",
    "JSON",
    "SMTP",
    "IMAP",
    "QQ",
    "CPU",
    "Excel",
    "WPS",
    "Word",
    "Outlook",
    "UUID",
    "Ctrl-C",
}
TOKEN = re.compile(r"(?<![\w./\\-])-{0,2}[A-Za-z][\w.\-/\\|=:]*")


def commands(
    group: click.Group = cli, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under `group`, with the words that invoke it."""
    yield path, group
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


ALL = list(commands())
LEAVES = [(path, c) for path, c in ALL if not isinstance(c, click.Group)]
METAVARS = {p.human_readable_name for _, c in ALL for p in c.params if isinstance(p, click.Argument)}
COMMAND_WORDS = {word for path, _ in ALL for word in path}


def english(text: str, typed: tuple[str, ...] = ()) -> list[str]:
    """The ASCII words of `text` that are not an option, command, metavar, path, identifier or name, nor
    what the user `typed`."""
    out = []
    for token in TOKEN.findall(text):
        word = token.rstrip(".:|-")
        if (
            token.startswith("-")
            or re.search(r"[./\\_=]", word)
            or word in NAMES | COMMAND_WORDS | set(typed)
        ):
            continue
        if word.split("|")[0] in METAVARS | {"FILE"}:  # --json FILE|-
            continue
        out.append(word)
    return out


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner(env={"COLUMNS": "80"})

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), prog_name="kepuxl")

    return invoke


def test_the_english_check_finds_english() -> None:  # the check below can fail
    assert english("Usage: kepuxl collect [OPTIONS] INBOX  Show this message and exit.") == [
        "Usage",
        "OPTIONS",
        "Show",
        "this",
        "message",
        "and",
        "exit",
    ]
    assert english("用法：kepuxl collect [选项] INBOX -o output/forms --json FILE|- kepuxl.toml a_b") == []


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "kepuxl")
def test_every_help_is_chinese(run, path: tuple[str, ...]) -> None:
    for flag in ("-h", "--help"):
        result = run(*path, flag)
        assert result.exit_code == 0, result.output
        assert english(result.output) == [], result.output
        lines = result.output.splitlines()
        assert lines[0].startswith(f"用法：kepuxl {' '.join(path)}".replace("  ", " ")), lines[0]
        assert "选项：" in lines and "显示本帮助并退出。" in result.output
    if isinstance(dict(ALL)[path], click.Group):
        assert "命令：" in result.output.splitlines()


def test_help_is_wrapped_between_chinese_characters(run) -> None:
    result = run("mail", "check", "-h")
    assert result.output.splitlines()[2:5] == [
        "  登录 kepuxl.toml 中设置的发件（SMTP）和收件（IMAP）服务器，检查设置和授权码。",
        "  失败时退出码为 1。",
        "",
    ]
    group = run("--help").output
    assert "  collect     读取 INBOX 中的全部回执，审核、汇总，生成汇总表和反馈表\n" in group  # no "..."
    assert (
        "  -j, --jobs 整数    读取回执的工作进程数：0 表示在本进程中逐个读取" in run("collect", "-h").output
    )
    assert "  -c, --config 文件  活动配置文件（默认：kepuxl.toml）\n" in run("make-forms", "-h").output


def test_version(run) -> None:
    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, "kepuxl 版本 0.1.0\n")


def test_a_usage_error_in_full(run) -> None:
    result = run("collect")
    assert result.exit_code == 2
    assert result.stdout == ""
    help_option = "--help" if click_version() >= (8, 4) else "-h"  # click 8.4 names the longer one
    assert result.stderr == (
        f"用法：kepuxl collect [选项] INBOX\n运行 kepuxl collect {help_option} 查看帮助。\n\n"
        "错误：缺少参数 'INBOX'。\n"
    )


USAGE_ERRORS = [
    (("init",), "缺少参数 'FOLDER'。"),
    (("forms", "check"), "缺少参数 'FILE'。"),
    (("forms", "check", "nope.toml"), "'FILE' 的值无效：文件“nope.toml”不存在。"),
    (("forms", "check", "adir"), "'FILE' 的值无效：“adir”是文件夹，这里需要文件。"),
    (("collect", "nope"), "'INBOX' 的值无效：文件夹“nope”不存在。"),
    (("collect", "afile"), "'INBOX' 的值无效：“afile”是文件，这里需要文件夹。"),
    (("remind", "afile"), "'[INBOX]' 的值无效：“afile”是文件，这里需要文件夹。"),
    (("init", "afile"), "'FOLDER' 的值无效：“afile”是文件，这里需要文件夹。"),
    (("make-forms", "-c", "adir"), "'-c' / '--config' 的值无效：“adir”是文件夹，这里需要文件。"),
    (("collect", "adir", "-j", "x"), "'-j' / '--jobs' 的值无效：“x”不是整数。"),
    (("collect", "adir", "-j", "-1"), "'-j' / '--jobs' 的值无效：-1 超出允许的范围（≥0）。"),
    (("make-forms", "-j", "-1"), "'-j' / '--jobs' 的值无效：-1 超出允许的范围（≥0）。"),
    (("make-forms", "--json"), "选项 --json 后面要跟一个值。"),
    (("make-forms", "--no-such-option"), "没有选项 --no-such-option。"),
    (("make-forms", "--jsn", "-"), "没有选项 --jsn。 是否想输入 --jobs、--json？"),
    (("forms", "list", "extra"), "多余的参数：extra"),
    (
        ("fetch", "--since", "2023/5/20"),
        "'--since' 的值无效：“2023/5/20”不是有效的日期，应写成 2023-05-20 的形式。",
    ),
    (("colect",), "没有命令“colect”。 是否想输入 collect？"),  # click < 8.4: no suggestion
    (("mail", "chek"), "没有命令“chek”。 是否想输入 check？"),
]


def click_version() -> tuple[int, ...]:
    return tuple(int(x) for x in importlib.metadata.version("click").split(".")[:2])


@pytest.mark.parametrize(
    ("args", "message"), USAGE_ERRORS, ids=lambda x: " ".join(x) if isinstance(x, tuple) else ""
)
def test_usage_errors_in_chinese(run, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    (tmp_path / "afile").write_text("", encoding="utf-8")
    (tmp_path / "adir").mkdir()
    result = run(*args)
    assert result.exit_code == 2, result.output
    if args[-1] in ("colect", "chek") and click_version() < (8, 4):
        message = message.split(" ")[0]
    assert result.stderr.splitlines()[-1] == f"错误：{message}"
    assert english(result.stderr, args) == []
    assert result.stdout == ""


def _valid_arguments(command: click.Command, tmp_path: Path) -> list[str]:
    """A value for each argument of `command` that passes its type (an existing folder or file)."""
    (tmp_path / "adir").mkdir(exist_ok=True)
    (tmp_path / "afile.toml").write_text("", encoding="utf-8")
    return [
        "afile.toml" if isinstance(p.type, click.Path) and not p.type.dir_okay else "adir"
        for p in command.params
        if isinstance(p, click.Argument)
    ]


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=" ".join)
def test_every_command_rejects_in_chinese(run, tmp_path: Path, path: tuple[str, ...]) -> None:
    command = dict(LEAVES)[path]
    given = _valid_arguments(command, tmp_path)
    cases = [
        (["--no-such-option"], "错误：没有选项 --no-such-option。"),
        (["--help=yes"], "错误：选项 --help 后面不能带值。"),
    ]
    if not any(isinstance(p, click.Argument) and p.nargs == -1 for p in command.params):
        cases.append((["x1", "x2", "x3"], "错误：多余的参数："))  # a command taking any number has no extra
    for extra, message in cases:
        result = run(*path, *given, *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.splitlines()[-1].startswith(message), result.stderr
        assert english(result.stderr, (*given, *extra)) == [], result.stderr
        if extra != ["--help=yes"]:  # --help is handled before the usage line is known
            assert result.stderr.startswith(f"用法：kepuxl {' '.join(path)} [选项]")


# -- the catalogue covers the installed click ---------------------------------------------------------


def click_msgids() -> set[str]:
    """Every literal message click passes to gettext/ngettext (the singular for ngettext)."""
    out = set()
    for source in Path(click.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("_", "ngettext")
            ):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    out.add(first.value)
    return out


def test_every_click_message_is_translated() -> None:
    ids = click_msgids()
    assert len(ids) > 50  # the scan found click's messages
    missing = ids - set(cli_zh.CATALOGUE) - set(cli_zh.PLURALS) - cli_zh.PROGRAMMER_ONLY
    assert missing == set()


def test_every_click_module_uses_the_catalogue() -> None:
    modules = {n: m for n, m in sys.modules.items() if n.startswith("click.") and m is not None}
    assert {"click.core", "click.exceptions", "click.types", "click.formatting"} <= set(modules)
    for name, module in modules.items():
        if "_" in vars(module):
            assert module._ == cli_zh.ZH.gettext, name
        if "ngettext" in vars(module):
            assert module.ngettext == cli_zh.ZH.ngettext, name
