"""click in Chinese: its own messages (usage errors, --help, --version), help headings and the help layout.

click routes every string it shows through gettext (`from gettext import gettext as _` at the top of each of
its modules) but ships no catalogue. `install()` rebinds `_` and `ngettext` in those modules to `CATALOGUE`,
so whatever click formats — "Error: Missing argument 'INBOX'.", "Usage:", "Show this message and exit." — comes
out Chinese. The msgids are those of click 8.1.7–8.5 (pyproject pins `click>=8.1.7,<8.6`); tests/test_cli_zh.py
checks that every msgid of the installed click is translated or known to be a programmer's error, and walks
every command's help and the common usage errors for English. kepu_xl/cli.py installs it when imported, for
the whole process (only the CLI imports click; the library does not).

`ZhGroup`/`ZhCommand` (every kepuxl command is one) add what gettext cannot reach: Chinese metavars for the
option types ("整数" for INTEGER RANGE), "[选项]" and "命令 [参数]..." in the usage line, the commands' short
help cut at the first "。", docstrings' "Example:" shown as "示例：", and a help formatter that writes "用法：",
"选项：" and wraps Chinese by terminal cells (`terminal.wrap`) instead of breaking at any character.
"""

from __future__ import annotations

import gettext
import importlib
import inspect
import re
import sys
from datetime import datetime
from typing import Any

import click
from rich.cells import cell_len

from .terminal import tolerant_streams, wrap

CATALOGUE: dict[str, str] = {
    # usage and help
    "Usage:": "用法：",
    "Options": "选项",
    "Commands": "命令",
    "Positional arguments": "参数",  # click 8.5: a section when an argument has help
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
    "%(prog)s, version %(version)s": "%(prog)s 版本 %(version)s",
    "default: {default}": "默认：{default}",
    "(dynamic)": "（运行时确定）",
    "required": "必填",
    "env var: {var}": "环境变量：{var}",
    "deprecated": "已弃用",
    "(Deprecated) {text}": "（已弃用）{text}",
    "DeprecationWarning: The command {name!r} is deprecated.": "提示：命令 {name} 已弃用。",
    "DeprecationWarning: The command {name!r} is deprecated.{extra_message}": "提示：命令 {name} 已弃用。{extra_message}",
    "DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}": "提示：{name} 已弃用。{extra_message}",
    "Confirm the action without prompting.": "不询问，直接确认。",
    "Do you want to continue?": "是否继续？",
    # usage errors
    "Error: {message}": "错误：{message}",
    "Error: {e.message}": "错误：{e.message}",
    "Try '{command} {option}' for help.": "运行 {command} {option} 查看帮助。",
    "Missing argument": "缺少参数",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing {param_type}": "缺少{param_type}",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing command.": "缺少命令。",
    "No such command {name!r}.": "没有命令“{name}”。",
    "No such option {name!r}.": "没有选项 {name}。",
    "No such option: {name}": "没有选项 {name}。",
    "Option {name!r} does not take a value.": "选项 {name} 后面不能带值。",
    "Argument {name!r} takes {nargs} values.": "参数 {name} 需要 {nargs} 个值。",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Could not open file {filename!r}: {message}": "无法打开文件“{filename}”：{message}",
    "unknown error": "未知错误",
    "Aborted!": "已中止。",
    # parameter types
    "file": "文件",
    "directory": "文件夹",
    "path": "路径",
    "{name} {filename!r} does not exist.": "{name}“{filename}”不存在。",
    "{name} {filename!r} is a file.": "“{filename}”是文件，这里需要文件夹。",
    "{name} {filename!r} is a directory.": "“{filename}”是文件夹，这里需要文件。",
    "{name} '{filename}' is a directory.": "“{filename}”是文件夹，这里需要文件。",
    "{name} {filename!r} is not readable.": "{name}“{filename}”没有读取权限。",
    "{name} {filename!r} is not writable.": "{name}“{filename}”没有写入权限。",
    "{name} {filename!r} is not executable.": "{name}“{filename}”不能执行。",
    "{value!r} is not a valid {number_type}.": "“{value}”不是{number_type}。",
    "{value} is not in the range {range}.": "{value} 超出允许的范围（{range}）。",
    "{value!r} is not a valid boolean.": "“{value}”不是有效的是/否值。",
    "{value!r} is not a valid boolean. Recognized values: {states}": "“{value}”不是有效的是/否值，可用：{states}",
    "{value!r} is not a valid UUID.": "“{value}”不是有效的 UUID。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    # prompts and the terminal
    "Repeat for confirmation": "再输入一次以确认",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "Error: The value you entered was invalid.": "错误：输入的值无效。",
    "Press any key to continue...": "按任意键继续……",
    "{editor}: Editing failed": "{editor}：编辑失败",
    "{editor}: Editing failed: {e}": "{editor}：编辑失败：{e}",
    "Windows error: {error}": "Windows 错误：{error}",
    "d": "天",
    "Couldn't detect Bash version, shell completion is not supported.": "无法识别 Bash 版本，不能补全命令。",
    "Shell completion is not supported for Bash versions older than 4.4.": "Bash 4.4 以下的版本不能补全命令。",
}
PLURALS: dict[str, str] = {  # ngettext: the singular msgid → one Chinese text for any count
    "Got unexpected extra argument ({args})": "多余的参数：{args}",
    "Takes {nargs} values but 1 was given.": "需要 {nargs} 个值，只给了 1 个。",
    "{len_type} values are required, but {len_value} was given.": "需要 {len_type} 个值，给了 {len_value} 个。",
    "Option {name!r} requires an argument.": "选项 {name} 后面要跟一个值。",
    "Did you mean {possibility}?": "是否想输入 {possibility}？",
    "{value!r} does not match the format {format}.": "“{value}”不是有效的日期，应写成 {format} 的形式。",
    "{value!r} is not {choice}.": "“{value}”不是可选的值（{choice}）。",
}
# programmers' mistakes in a command's definition: raised at import, never shown to a clerk
PROGRAMMER_ONLY = {
    "Name '{name}' defined twice",
    "Boolean option {decl!r} cannot use the same flag for true/false.",
    "Could not determine name for option with declarations {decls!r}",
    "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? "
    "Did you mean to pass '--{name}'?",
    "Arguments take exactly one parameter declaration, got {length}: {decls}.",
    "Invalid start character for option ({option})",
    "Unknown standard stream '{name}'",
    "Unknown color {colour!r}",
    "Choice({choices})",
    "Value must be an iterable.",
    "{text} {deprecated_message}",
}
EXAMPLE_DAY = datetime(2023, 5, 20, 9, 30)  # how a date option's format is shown
TYPE_WORDS = {"integer": "整数", "integer range": "整数", "float": "数字", "float range": "数字"}
CLICK_MODULES = (
    "core",
    "decorators",
    "exceptions",
    "formatting",
    "parser",
    "termui",
    "types",
    "utils",
    "_termui_impl",
    "shell_completion",
    "_winconsole",
)


class _Template(str):
    """A translated message whose `format` also puts the English click passes in into Chinese: number type
    names ("integer"), ranges ("x>=1"), date formats ("'%Y-%m-%d'" → an example date) and quoted lists."""

    def format(self, *args: Any, **kwargs: Any) -> str:
        for key, value in kwargs.items():
            if key == "number_type":
                kwargs[key] = TYPE_WORDS.get(value, "数字")
            elif key == "range":
                kwargs[key] = range_zh(str(value))
            elif key in ("format", "formats"):
                kwargs[key] = "或".join(EXAMPLE_DAY.strftime(f) for f in re.findall(r"'([^']*)'", value))
            elif key in ("possibility", "possibilities", "choice", "choices"):
                kwargs[key] = "、".join(re.findall(r"'([^']*)'", value) or value.split(", "))
        return super().format(*args, **kwargs)


class Catalogue(gettext.NullTranslations):
    """click's messages in Chinese; an unknown msgid stays as it is."""

    def gettext(self, message: str) -> str:
        return _Template(CATALOGUE.get(message, message))

    def ngettext(self, msgid1: str, msgid2: str, n: int) -> str:
        if msgid1 in PLURALS:
            return _Template(PLURALS[msgid1])
        return _Template(msgid1 if n == 1 else msgid2)


ZH = Catalogue()


def install() -> None:
    """Rebind `_` and `ngettext` in click's modules to the catalogue (idempotent). It must run before the
    commands are defined: click translates some texts (the --version message, "file"/"directory") when a
    decorator runs."""
    for name in CLICK_MODULES:
        if name != "_winconsole" or sys.platform == "win32":
            importlib.import_module(f"click.{name}")
    for name, module in list(sys.modules.items()):
        if name.startswith("click.") and module is not None:
            if vars(module).get("_") in (gettext.gettext, ZH.gettext):
                module._ = ZH.gettext  # type: ignore[attr-defined]
            if vars(module).get("ngettext") in (gettext.ngettext, ZH.ngettext):
                module.ngettext = ZH.ngettext  # type: ignore[attr-defined]


def range_zh(text: str) -> str:
    """click's range notation in symbols a clerk reads: "x>=1" → "≥1", "1<=x<=5" → "1≤值≤5"."""
    text = text.replace(">=", "≥").replace("<=", "≤")
    return text[1:] if text.startswith("x") else text.replace("x", "值")


# -- help layout ------------------------------------------------------------------------------------------

_EXAMPLE = re.compile(r"^(\s*)Examples?:[ \t]*$", re.M)
_EXTRAS = re.compile(r"(?:^|  )\[([^\[\]]*)\]$")
_CJK_EDGE = re.compile(r"[\u2e80-\u9fff\uff00-\uffef\u3000-\u303f“”‘’…—]")


def _joined(lines: list[str]) -> str:
    """A paragraph's source lines as one line: no space is put between two Chinese characters."""
    out = ""
    for line in (raw.strip() for raw in lines):
        if out and not (_CJK_EDGE.match(out[-1]) and _CJK_EDGE.match(line[:1])):
            out += " "
        out += line
    return out


def _paragraphs(text: str) -> list[tuple[int, bool, list[str]]]:
    """click's paragraph rules: blank lines separate paragraphs; one that starts with a line holding only
    "\\b" is kept as written. Returns (indent, kept as written, lines)."""
    out: list[tuple[int, bool, list[str]]] = []
    for block in re.split(r"\n[ \t]*\n", text.expandtabs()):
        lines = [line for line in block.split("\n") if line.strip()]
        if not lines:
            continue
        indent = cell_len(lines[0]) - cell_len(lines[0].lstrip())
        if lines[0].strip() == "\b":
            out.append((indent, True, [line.rstrip() for line in lines[1:]]))
        else:
            out.append((indent, False, lines))
    return out


def wrap_help(text: str, width: int) -> list[str]:
    """Help text as lines of at most `width` cells, paragraphs kept (click's `\\b` included)."""
    out: list[str] = []
    for indent, raw, lines in _paragraphs(text):
        if out:
            out.append("")
        if raw:
            out.extend(lines)
        else:
            out.extend(" " * indent + line for line in wrap(_joined(lines), width - indent))
    return out


def extras_zh(help_text: str) -> str:
    """click's "  [default: x; x>=0]" after an option's help as "（默认：x，≥0）"."""
    match = _EXTRAS.search(help_text)
    if match is None:
        return help_text
    items = [range_zh(item) if re.fullmatch(r"[\dx.<>=-]+", item) else item for item in match[1].split("; ")]
    return help_text[: match.start()] + "（" + "，".join(items) + "）"


class ZhHelpFormatter(click.HelpFormatter):
    """Headings with a Chinese colon, "用法：", and text wrapped by terminal cells (`terminal.wrap`)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, prefix="用法：" if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        self.write(f"{'':>{self.current_indent}}{heading}：\n")

    def write_text(self, text: str) -> None:
        indent = " " * self.current_indent
        for line in wrap_help(text, self.width - self.current_indent):
            self.write(f"{indent}{line}\n" if line else "\n")

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        rows = [(first, extras_zh(second)) for first, second in rows]
        first_col = min(max((cell_len(first) for first, _ in rows), default=0), col_max) + col_spacing
        indent = " " * self.current_indent
        for first, second in rows:
            self.write(f"{indent}{first}")
            lines = wrap_help(second, max(self.width - self.current_indent - first_col, 10)) if second else []
            if not lines:
                self.write("\n")
                continue
            if cell_len(first) <= first_col - col_spacing:
                self.write(" " * (first_col - cell_len(first)))
            else:
                self.write("\n" + indent + " " * first_col)
            self.write(f"{lines[0]}\n")
            for line in lines[1:]:
                self.write(f"{indent}{' ' * first_col}{line}\n" if line else "\n")


class ZhContext(click.Context):
    formatter_class = ZhHelpFormatter


METAVARS = {"integer": "整数", "integer range": "整数", "float": "数字", "float range": "数字"}
METAVARS.update(text="文字", datetime="日期", boolean="是/否", uuid="UUID")


class _Zh:
    """What ZhCommand and ZhGroup share."""

    context_class = ZhContext

    def _chinese(self: Any) -> None:
        if self.help:
            self.help = _EXAMPLE.sub(r"\1示例：", self.help)
        for param in self.params:
            if isinstance(param, click.Option) and param.metavar is None and not param.is_flag:
                param.metavar = METAVARS.get(param.type.name, param.metavar)

    def get_short_help_str(self: Any, limit: int = 45) -> str:
        """The first sentence of the help (click would cut Chinese at `limit` characters with "...")."""
        if self.short_help:
            return inspect.cleandoc(self.short_help)
        first = _paragraphs(inspect.cleandoc(self.help or ""))[:1]
        return _joined(first[0][2]).split("。")[0] if first else ""

    def parse_args(self: Any, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)  # type: ignore[misc]
        except click.MissingParameter as exc:  # click ends this one with an English full stop
            message = exc.format_message()
            raise click.UsageError(
                message[:-1] + "。" if message.endswith(".") else message, exc.ctx
            ) from None


class ZhCommand(_Zh, click.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        super().__init__(*args, **kwargs)
        self._chinese()


class ZhGroup(_Zh, click.Group):
    command_class = ZhCommand
    group_class = type  # subgroups are ZhGroups too

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("options_metavar", "[选项]")
        kwargs.setdefault("subcommand_metavar", "命令 [参数]...")
        super().__init__(*args, **kwargs)
        self._chinese()

    def main(self, *args: Any, **kwargs: Any) -> Any:
        tolerant_streams()  # a GBK console shows '?' for a character it lacks instead of stopping the run
        return super().main(*args, **kwargs)
