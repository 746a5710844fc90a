"""A TOML syntax error → what a clerk typed wrong, in Chinese: (TOML text, parser error) → `Explained`.

The parser says `Invalid value (at line 3, column 9)`; the clerk typed Chinese quotes with the
input method on. The offending line is looked at for the mistakes people make when they edit
kepuxl.toml in Notepad: Chinese quotes, a missing quote, a date in the wrong shape, a full-width
＝ or space, a colon instead of =, a Chinese comma in a list, a Windows path's backslashes,
unquoted text, a key written twice. The parser's own text is kept as a short technical tail.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass

_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$|\s*\(at end of document\)\s*$")
_DATE_KEYS = ("deadline", "start", "end", "since")
_DATE_LIKE = re.compile(r"^\d{4}\s*[-/.年]")
_NUMBER = re.compile(r"^[+-]?\d[\d_]*(\.\d+)?$")
DATE_FIX = "日期不加引号，写成 2024-05-30；日期时间写成 2024-05-30T17:30:00（月、日、时、分、秒都是两位数，时间要写到秒）"


@dataclass(frozen=True, slots=True)
class Explained:
    line: int
    text: str  # the offending line as typed (clipped)
    cause: str
    fix: str
    detail: str  # the parser's message


def explain(text: str, exc: tomllib.TOMLDecodeError) -> Explained:
    message = str(exc)
    at = _AT.search(message)
    detail = message[: at.start()] if at else message
    lines = text.splitlines() or [""]
    # "Cannot overwrite a value (at end of document)" says no line: find the repeated key
    line = int(at.group(1)) if at and at.group(1) else _repeated_key(lines) or len(lines)
    line = min(max(line, 1), len(lines))
    typed = lines[line - 1].strip()
    cause, fix = _cause(typed, detail)
    return Explained(line, typed if len(typed) <= 80 else typed[:79] + "…", cause, fix, message)


def _cause(line: str, detail: str) -> tuple[str, str]:
    """The likeliest mistake on the offending line, and how to fix it."""
    line = _without_comment(line).strip()  # a comment may say anything, in any quotes
    key, _, value = re.split(r"(=|＝)", line, maxsplit=1) if re.search("=|＝", line) else (line, "", "")
    key, value = key.strip(), value.strip()
    if "Cannot overwrite" in detail or "twice" in detail:
        return "同一项或同一个表写了两次", "删去重复的一处（整个文件里每一项只能写一次）"
    if re.search("[“”‘’]", line):
        return (
            "用了中文引号 “ ” 或 ‘ ’",
            '文字两边的引号要用英文双引号 "，如 title = "2024年科技活动周"（切换到英文输入法再输入）',
        )
    if "＝" in line:
        return "等号用了全角“＝”", "改成英文半角等号 =（切换到英文输入法再输入）"
    if line.startswith(("【", "［")) or (line.startswith("[") and not line.endswith("]")):
        return "表名的方括号写法不对", "表名要用英文方括号，如 [mail]"
    if not value and re.search("[:：]", line):
        return "键和值之间用了冒号", '要用等号 =，如 title = "2024年科技活动周"'
    if "\u3000" in key:
        return "含全角空格", "把全角空格删去或改成半角空格"
    if value.count('"') % 2 or value.count("'") % 2:
        return "引号不成对（少了开头或结尾的英文双引号）", '在文字两边各加一个英文双引号 "'
    if key.split(".")[-1].strip() in _DATE_KEYS or _DATE_LIKE.match(value.strip("\"'")):
        return "日期写法不对", DATE_FIX
    if "，" in value:
        return "列表里用了中文逗号“，”", '改成英文逗号 ,，如 subject = ["科技活动周", "统计表"]'
    if value.startswith('"') and "\\" in value:
        return (
            "双引号里的反斜杠 \\ 有特殊含义",
            "Windows 路径请改用单引号，如 ca_file = 'C:\\证书\\ca.pem'，或把 \\ 换成 /",
        )
    if value in ("True", "False", "TRUE", "FALSE"):
        return "true/false 要全小写", "改成 true 或 false"
    if value and not value.startswith(("[", "{", '"', "'")) and not _NUMBER.match(value):
        return (
            "文字没有加引号（或数字后面带了文字）",
            '文字两边要加英文双引号，如 organizer = "青溪县科学技术局"；数字只写数字，如 pause = 3',
        )
    return "不符合 TOML 的写法", "请对照 kepuxl init 生成的示例配置修改该行"


def _without_comment(value: str) -> str:
    """The value without a trailing # comment (a # inside quotes is kept)."""
    quote = ""
    for i, ch in enumerate(value):
        if ch in "\"'" and (not quote or quote == ch):
            quote = "" if quote else ch
        elif ch == "#" and not quote:
            return value[:i]
    return value


def _repeated_key(lines: list[str]) -> int | None:
    """The line number of the first key set twice in one table (the parser does not say where)."""
    table, seen = "", set()
    for number, raw in enumerate(lines, start=1):
        line = raw.strip()
        if line.startswith("["):
            table = line.split("#")[0].strip()
        elif "=" in line and not line.startswith("#"):
            key = (table, line.split("=", 1)[0].strip())
            if key in seen:
                return number
            seen.add(key)
    return None
