"""Writing outputs safely: atomic files, sets of files swapped in whole, names every file system accepts.

- A file is written to a temp file beside it, fsynced, then renamed over the target (`write_atomic`):
  a reader sees the old file or the new one, never half of one.
- A set of files (the feedback forms, the blank forms) is written into a fresh folder that is then
  swapped in (`new_folder` → `swap_folder`): the old set is moved aside only once the new one is
  complete and on disk, and removed only once the new one is in place. On Linux the set's files are
  not fsynced one by one: one sync(2), which waits there until everything written is on disk, comes
  just before the swap (`SYNC_AT_SWAP`; 2,000 feedback forms: ~3 s of fsyncs, ~0.25 s for one sync).
  Elsewhere (Windows, where sync(2) does not exist; macOS, where it does not wait) each file is
  fsynced as it is written.
- Whatever a killed run left (temp files, a half-written set, a set moved aside) carries the `.kepuxl-`
  prefix and the `.tmp` suffix; `clean_stale_temps` removes it, or puts a set moved aside back.
- Outputs get the permissions of any new file (the umask), not mkstemp's private 0600.
- Failures are `WriteError`s: Chinese, naming the target (never the temp file) and what to do.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
from datetime import datetime
from pathlib import Path

from .findings import Code, Finding, KepuError

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]')
_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in range(1, 10)),
    *(f"LPT{i}" for i in range(1, 10)),
}
# A name stem: at most this many characters (Windows' 260-character MAX_PATH counts characters) and
# UTF-8 bytes (ext4 and most Linux file systems allow 255 bytes a name; a Chinese character takes 3).
# Prefixes, suffixes and a "-20230605-090000" kept-aside stamp still fit in 255 bytes.
NAME_CHARS = 80
NAME_BYTES = 150
TEMP_PREFIX, TEMP_SUFFIX = ".kepuxl-", ".tmp"
_ASIDE = re.compile(r"\.kepuxl-old-[0-9a-f]{8}-(.+)\.tmp")
_OS_JUNK = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})  # made by Explorer/Finder, not by a person


_OS_ERRORS_ZH = {
    errno.ENOENT: "文件不存在",
    errno.EACCES: "没有读写权限",
    errno.EPERM: "没有读写权限",
    errno.EEXIST: "这是一个已有的文件，不能用作文件夹",
    errno.EISDIR: "这是一个文件夹，不是文件",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.ENOSPC: "磁盘空间已满",
    errno.EROFS: "所在磁盘只读",
    errno.EBUSY: "文件正被其他程序占用",
    errno.ENAMETOOLONG: "文件名或路径过长",
}
_OS_HINTS = {
    errno.ENOSPC: "请清理该磁盘，或换一个空间充足的输出文件夹（-o）后重新运行。",
    errno.EROFS: "请把活动文件夹放到可写的磁盘上（不要用只读的 U 盘、光盘或网络共享），或换一个输出文件夹（-o）。",
    errno.EACCES: "请检查该文件夹的写入权限（或是否被杀毒软件拦截），或换一个输出文件夹（-o）。",
    errno.EPERM: "请检查该文件夹的写入权限（或是否被杀毒软件拦截），或换一个输出文件夹（-o）。",
    errno.EEXIST: "请移走这个文件，或换一个输出文件夹（-o）。",
    errno.ENOTDIR: "请移走路径中同名的文件，或换一个输出文件夹（-o）。",
    errno.EBUSY: "请关闭占用它的程序后重新运行。",
    errno.ENAMETOOLONG: "请把活动文件夹移到路径较短的位置。",
}


def os_error_zh(exc: OSError) -> str:
    """An operating-system error in Chinese (the OS's own text is English on most machines)."""
    return _OS_ERRORS_ZH.get(exc.errno or -1) or exc.strerror or str(exc)


class WriteError(KepuError, OSError):
    """An output could not be written. A `KepuError` (the CLI's exit 3) that is still an `OSError`."""

    def __init__(self, findings: list[Finding] | Finding | str, code: int | None = None):
        super().__init__(findings)
        self.errno = code

    def __reduce__(self) -> tuple:  # crosses from a worker process intact
        return (WriteError, (self.findings or str(self), self.errno))


def write_error(path: Path, exc: OSError) -> WriteError:
    """`exc`, met while writing `path` (or a temp file for it), as a Chinese error naming `path`."""
    hint = _OS_HINTS.get(exc.errno or -1, "请检查该文件夹后重新运行。")
    finding = Finding.make(Code.OUT_WRITE_FAILED, path=str(path), error=os_error_zh(exc), hint=hint)
    return WriteError(finding, exc.errno)


# -- names -----------------------------------------------------------------------------------------


def safe_name(text: str, limit: int = NAME_CHARS, max_bytes: int = NAME_BYTES) -> str:
    """A file name stem that Windows, macOS and Linux all accept, at most `limit` characters and
    `max_bytes` UTF-8 bytes. A name cut short ends in "~" and 6 hex digits of the whole text, so two
    long names that share their beginning still give two names."""
    name = _UNSAFE.sub("_", text).strip().rstrip(". ") or "_"
    if name.split(".")[0].upper() in _RESERVED:
        name = "_" + name
    if len(name) > limit or _size(name) > max_bytes:
        tag = "~" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:6]
        name = _cut(name, limit - len(tag), max_bytes - len(tag)).rstrip(". ") + tag
    return name


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _cut(text: str, chars: int, size: int) -> str:
    """The longest start of `text` within `chars` characters and `size` UTF-8 bytes."""
    out, used = [], 0
    for ch in text[:chars]:
        used += _size(ch)
        if used > size:
            break
        out.append(ch)
    return "".join(out)


def kept_aside(path: Path, now: datetime | None = None) -> Path:
    """Where a new output goes when `path` is locked: `name-20230605-090000.xlsx` beside it."""
    return path.with_name(f"{path.stem}-{now or datetime.now():%Y%m%d-%H%M%S}{path.suffix}")


# -- single files ----------------------------------------------------------------------------------


def ensure_dir(folder: Path) -> Path:
    """`folder`, made if missing; a file in its place is a `WriteError` saying so."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:  # mkdir(exist_ok) raises this only when a file is there
        raise write_error(folder, exc) from None
    except OSError as exc:
        raise write_error(folder, exc) from None
    return folder


def write_temp(folder: Path, data: bytes, target: Path) -> Path:
    """`data` in a new temp file in `folder`, on disk (fsynced), permissions as for any new file.

    Errors name `target`, the file the temp file is for."""
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
    except OSError as exc:
        raise write_error(target, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            _share(fh.fileno(), 0o666)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise write_error(target, exc) from None
        raise
    return Path(tmp)


# Linux's sync(2) returns once everything written is on disk: a set is synced once, at its swap
SYNC_AT_SWAP = sys.platform.startswith("linux")


def write_new(path: Path, data: bytes, target: Path | None = None) -> Path:
    """`data` as `path` in a folder only this run writes (a set being built); on disk (fsynced) now, or
    with the whole set when it is swapped in (`SYNC_AT_SWAP`).

    Errors name `target` (where the file will end up), default `path`."""
    try:
        with open(path, "wb") as fh:
            fh.write(data)
            if not SYNC_AT_SWAP:
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        raise write_error(target or path, exc) from None
    return path


def replace_file(tmp: Path, path: Path) -> Path:
    """Rename the finished temp file `tmp` over `path`; returns where the data now is.

    If `path` is locked (Excel holds it open on Windows), the data is kept under a timestamped name
    beside it instead and that path is returned; the caller reports it.
    """
    try:
        try:
            os.replace(tmp, path)
        except PermissionError:
            aside = kept_aside(path)
            os.replace(tmp, aside)
            return aside
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise write_error(path, exc) from None
    return path


def write_atomic(path: Path, data: bytes) -> Path:
    """Write to a temp file beside `path`, fsync, then rename over it: never a half-written file.

    Returns the path written: `path`, or a timestamped name beside it when `path` is locked.
    """
    ensure_dir(path.parent)
    return replace_file(write_temp(path.parent, data, path), path)


# -- sets of files ---------------------------------------------------------------------------------


def new_folder(target: Path) -> Path:
    """An empty folder beside `target` to build its next set in (then `swap_folder`)."""
    ensure_dir(target.parent)
    try:
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX))
    except OSError as exc:
        raise write_error(target, exc) from None
    _share(tmp, 0o777)
    return tmp


def swap_folder(new: Path, target: Path) -> Path:
    """Put the complete set `new` (from `new_folder`) where `target` is; returns where it now is.

    The new set is put on disk first when its files were not fsynced one by one (`SYNC_AT_SWAP`).
    The old set is moved aside, the new one renamed into place, and only then the old one removed; a
    run killed between the two renames leaves the old set aside, and `clean_stale_temps` puts it back.
    When the old set cannot be moved (a file of it open in Excel on Windows) the new set is kept under
    a timestamped name beside it instead, and that path is returned; the caller reports it.
    """
    if SYNC_AT_SWAP:
        os.sync()  # the set's files (written by `write_new`) on disk before it takes the old one's place
    aside = None
    if os.path.lexists(target):
        aside = target.with_name(f"{TEMP_PREFIX}old-{secrets.token_hex(4)}-{target.name}{TEMP_SUFFIX}")
        try:
            os.rename(target, aside)
        except PermissionError:
            kept = kept_aside(target)
            _rename(new, kept)
            return kept
        except OSError as exc:
            raise write_error(target, exc) from None
    try:
        os.rename(new, target)
    except OSError as exc:
        if aside is not None:
            os.rename(aside, target)
        raise write_error(target, exc) from None
    if aside is not None:
        discard(aside)
    return target


def _rename(src: Path, dst: Path) -> None:
    try:
        os.rename(src, dst)
    except OSError as exc:
        raise write_error(dst, exc) from None


def foreign_files(folder: Path, ours: re.Pattern[str]) -> list[str]:
    """Names in `folder` that kepuxl did not make (not matching `ours`): a set swapped in whole would
    lose them. Temp files and the folder files Explorer/Finder make are kepuxl's to drop."""
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as exc:
        raise write_error(folder, exc) from None
    return [n for n in names if not _ours(folder, n, ours)]


def _ours(folder: Path, name: str, ours: re.Pattern[str]) -> bool:
    if _is_temp(name):
        return True
    if os.path.isdir(os.path.join(folder, name)):
        return False
    return bool(ours.fullmatch(name)) or name.lower() in _OS_JUNK


def check_replaceable(folder: Path, ours: re.Pattern[str], what: str) -> None:
    """Raise (nothing written yet) when `folder`, replaced as a whole, holds files kepuxl did not make."""
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise write_error(folder, FileExistsError(errno.EEXIST, "exists"))
    foreign = foreign_files(folder, ours)
    if foreign:
        shown = "、".join(foreign[:5]) + (f" 等 {len(foreign)} 个" if len(foreign) > 5 else "")
        raise KepuError(Finding.make(Code.OUT_FOREIGN_FILES, path=str(folder), what=what, names=shown))


# -- what a killed run left ------------------------------------------------------------------------


def clean_stale_temps(folder: Path, depth: int = 0) -> None:
    """Undo what a killed run left in `folder` and (to `depth` levels) its subfolders: a set moved
    aside and never replaced goes back; temp files and half-built sets go. Nothing else is touched."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return  # missing or unreadable: nothing of ours to clean there
    names = {e.name for e in entries}
    for entry in entries:
        if not _is_temp(entry.name):
            if depth > 0 and not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False):
                clean_stale_temps(Path(entry.path), depth - 1)
            continue
        old = _ASIDE.fullmatch(entry.name)
        if old and old.group(1) not in names and entry.is_dir(follow_symlinks=False):
            try:
                os.rename(entry.path, os.path.join(folder, old.group(1)))  # the run died mid-swap
                names.add(old.group(1))
                continue
            except OSError:
                pass
        discard(Path(entry.path))


def _is_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def discard(path: Path) -> None:
    """A temp file or folder of ours, gone (what cannot be removed now goes at the next run)."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


# -- permissions -----------------------------------------------------------------------------------


def _umask() -> int:
    """The process's umask: from /proc on Linux (a read), else by setting it and back (a moment)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _share(target: int | Path, mode: int) -> None:
    """The permissions of a file (0o666) or folder (0o777) made by open()/mkdir(), not mkstemp's 0o600:
    outputs are meant to be shared. Windows has only a read-only flag, which mkstemp leaves off."""
    if os.name != "posix":
        return
    wanted = mode & ~_umask() & (stat.S_IRWXU | stat.S_IRWXG | stat.S_IRWXO)
    if isinstance(target, int):
        os.fchmod(target, wanted)
    else:
        os.chmod(target, wanted)
