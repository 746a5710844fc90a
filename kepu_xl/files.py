"""Writing outputs safely: atomic replace, Windows-safe names, a locked destination kept aside."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}


_OS_ERRORS_ZH = {
    errno.ENOENT: "文件不存在",
    errno.EACCES: "没有读写权限",
    errno.EPERM: "没有读写权限",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.ENOSPC: "磁盘空间已满",
    errno.EROFS: "所在磁盘只读",
    errno.EBUSY: "文件正被其他程序占用",
    errno.ENAMETOOLONG: "文件名或路径过长",
}


def os_error_zh(exc: OSError) -> str:
    """An operating-system error in Chinese (the OS's own text is English on most machines)."""
    return _OS_ERRORS_ZH.get(exc.errno or -1) or exc.strerror or str(exc)


def safe_name(text: str, limit: int = 80) -> str:
    """A file name stem that Windows, macOS and Linux all accept."""
    name = _UNSAFE.sub("_", text).strip().rstrip(". ")[:limit] or "_"
    return "_" + name if name.split(".")[0].upper() in _RESERVED else name


def write_atomic(path: Path, data: bytes) -> Path:
    """Write to a temp file beside `path`, fsync, then rename over it: never a half-written file.

    If the destination is locked (Excel holds it open on Windows), the data is kept under a
    timestamped name instead and that path is returned; the caller reports it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".kepuxl-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.replace(tmp, path)
        except PermissionError:
            aside = path.with_name(f"{path.stem}-{datetime.now():%Y%m%d-%H%M%S}{path.suffix}")
            os.replace(tmp, aside)
            return aside
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def clean_stale_temps(folder: Path) -> None:
    """Remove temp files a killed run left behind (never anything else)."""
    for stale in folder.glob(".kepuxl-*.tmp"):
        stale.unlink(missing_ok=True)
