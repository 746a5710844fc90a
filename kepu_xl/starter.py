"""The double-click starter of a campaign folder: `打开工作台.bat` runs `kepuxl serve` there (Windows).

Beside the campaign, not in kepu_xl/web: `kepuxl init` writes it too, and init must not load the page.
"""

from __future__ import annotations

from pathlib import Path

BAT_NAME = "打开工作台.bat"
# cmd.exe reads a batch file in the console's code page (936 on Chinese Windows): GBK, CRLF
BAT_TEXT = (
    "@echo off\r\n"
    "rem 双击本文件打开 kepuxl 工作台（浏览器页面）。关闭本窗口即停止工作台。\r\n"
    'cd /d "%~dp0"\r\n'
    "kepuxl serve\r\n"
    "if errorlevel 9009 py -m kepu_xl serve\r\n"
    "pause\r\n"
)


def write_bat(folder: Path) -> Path | None:
    """The double-click starter in a campaign folder (only when it is not there yet)."""
    path = Path(folder) / BAT_NAME
    try:
        with open(path, "xb") as fh:
            fh.write(BAT_TEXT.encode("gbk"))
    except FileExistsError:
        return None
    return path
