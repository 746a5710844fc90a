"""The inbox folder → candidates: a read-only walk that never follows links, never opens FIFOs, skips
kepuxl's own folders and office owner files, and tells apart names that differ only by Unicode form."""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from ..findings import Code, Finding, KepuError
from .base import (
    _CFB,
    _EMPTY_SHA,
    _ZIP,
    DEFAULT_LIMITS,
    PENDING,
    SPREADSHEET_EXTS,
    VIDEO_EXTS,
    VIDEO_LABEL,
    Candidate,
    Limits,
    _Ctx,
    _ext,
    _fs_text,
    _hidden_attr,
    _is_junk,
    _local,
    _mb,
    _mtime,
    _read_capped,
    _rejected,
    display_name,
    open_regular,
    read_cap,
)
from .bytecheck import VIDEO_HEAD, _binary_label, video_format
from .unpack import _route

# ---------------------------------------------------------------------------------------------------
# scan: folder → candidates
# ---------------------------------------------------------------------------------------------------


def scan(
    inbox: Path, *, limits: Limits = DEFAULT_LIMITS, defer: bool = False, skip: Iterable[Path] = ()
) -> Iterator[Candidate]:
    """Walk `inbox` recursively and yield candidates sorted by relative path.

    Args:
        inbox: the folder the returns were saved into (only read, never written).
        limits: size and nesting caps.
        defer: leave the content pre-check of each file (kind PENDING) to `checked`, called where the
            file is read: collect runs it in the worker processes, and the reader then reuses the parts
            the check inflated. Mail and archives are still opened here.
        skip: folders under `inbox` not to enter (kepuxl's own output and state folders when the inbox
            is the campaign folder); each is reported once with READ_SKIPPED.

    Yields:
        `Candidate`s: files by content; each e-mail's attachments; each plain zip's members. Hidden files,
        Office/WPS owner files (`~$*`) and LibreOffice locks are skipped silently; symlinks, FIFOs and other
        non-regular entries come back rejected with READ_SKIPPED so the clerk sees why. A file or folder this
        computer cannot read (permissions, an antivirus, a cloud placeholder) comes back with READ_LOCAL.
        Two names that differ only in their Unicode form (NFC/NFD, alike on screen) are told apart by a
        marker added to the second one's display path.

    Raises:
        KepuError: the inbox itself is missing or is not a folder.
    """
    root = Path(inbox)
    if not root.is_dir():
        raise KepuError(Finding.make(Code.READ_FAILED, file=str(root), error="收件文件夹不存在或不是文件夹"))
    # Collect first (lstat only) so the order is the sorted relative path, not the directory walk order.
    entries = _distinct(sorted(_walk(root, _identities(skip)), key=lambda e: e[0]))
    for rel, full, st, code, why in entries:
        if code is not None:
            base = rel.rsplit("/", 1)[-1]
            context = {"error": why} if code is Code.READ_LOCAL else {"why": why}
            yield _rejected(rel, display_name(base, "文件"), st, code, name=base, **context)
            continue
        yield from _scan_file(rel, full, st, limits, defer)


_Entry = tuple[str, str, os.stat_result | None, Code | None, str]
OWN_FOLDER = "是 kepuxl 自己的输出或状态文件夹（生成的统计表、汇总表、反馈表），不是回执，未读取"


def _identities(folders: Iterable[Path]) -> frozenset[tuple[int, int]]:
    """(device, inode) of each existing folder: matches it under any spelling, case or link."""
    out = set()
    for folder in folders:
        try:
            st = os.stat(folder)
        except OSError:
            continue
        out.add((st.st_dev, st.st_ino))
    return frozenset(out)


def _distinct(entries: list[_Entry]) -> list[_Entry]:
    """Entries whose paths look alike on screen (the same name in NFC and in NFD) made distinguishable:
    the NFC spelling (else the first) keeps its path, the others get a marker."""
    count: dict[str, int] = {}
    out = []
    for entry in sorted(entries, key=lambda e: (_nfc(e[0]), e[0] != _nfc(e[0]), e[0])):
        key = _nfc(entry[0])
        count[key] = count.get(key, 0) + 1
        if count[key] > 1:
            entry = (f"{entry[0]}（同名文件 {count[key]}，文件名的字符编码不同）", *entry[1:])
        out.append(entry)
    return sorted(out, key=lambda e: e[0])


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _walk(root: Path, skip: frozenset[tuple[int, int]] = frozenset()) -> Iterator[_Entry]:
    """(relative path, full path, lstat, code, why) for every entry worth reporting under `root`;
    code is None for a regular file to read."""
    stack = [("", str(root))]
    while stack:
        rel_dir, full_dir = stack.pop()
        try:
            with os.scandir(full_dir) as it:
                names = sorted(e.name for e in it)
        except OSError as exc:
            yield rel_dir or ".", full_dir, None, Code.READ_LOCAL, f"文件夹无法打开：{_local(exc)}"
            continue
        for name in names:
            if _is_junk(name):
                continue
            full = os.path.join(full_dir, name)
            rel = f"{rel_dir}/{_fs_text(name)}" if rel_dir else _fs_text(name)
            try:
                st = os.lstat(full)
            except OSError as exc:
                yield rel, full, None, Code.READ_LOCAL, f"无法读取文件信息：{_local(exc)}"
                continue
            if _hidden_attr(st):
                continue
            # Never follow links (they can point anywhere, e.g. /etc) and never open FIFOs (they block).
            if stat.S_ISLNK(st.st_mode) or getattr(st, "st_reparse_tag", 0) & _NAME_SURROGATE:
                yield rel, full, st, Code.READ_SKIPPED, "是符号链接/快捷方式，为安全起见不跟随"
            elif stat.S_ISDIR(st.st_mode) and (st.st_dev, st.st_ino) in skip:
                yield rel, full, st, Code.READ_SKIPPED, OWN_FOLDER
            elif stat.S_ISDIR(st.st_mode):
                stack.append((rel, full))
            elif stat.S_ISREG(st.st_mode):
                yield rel, full, st, None, ""
            else:
                yield rel, full, st, Code.READ_SKIPPED, "不是普通文件（管道、设备等）"


# Windows reparse tags with this bit point elsewhere (symlinks, junctions); OneDrive placeholders do not.
_NAME_SURROGATE = 0x20000000


def _scan_file(
    rel: str, full: str, st: os.stat_result | None, limits: Limits, defer: bool = False
) -> Iterator[Candidate]:
    """One regular inbox file → its candidate(s)."""
    base = rel.rsplit("/", 1)[-1]
    name = display_name(base, "文件")
    received = _mtime(st)
    cap = read_cap(base, limits)
    big = st is not None and st.st_size > cap
    if big or _ext(name) in VIDEO_EXTS:  # a video is 50–300 MB: looked at by its first bytes only
        try:
            video = _video_on_disk(rel, name, full, received)
        except OSError as exc:
            yield _rejected(rel, name, st, Code.READ_LOCAL, name=name, error=_local(exc))
            return
        if video is not None:
            yield video
            return
    if big:
        yield _rejected(rel, name, st, Code.READ_TOO_LARGE, error=f"{_mb(st.st_size)}，上限 {_mb(cap)}")
        return
    if defer and _ext(name) in SPREADSHEET_EXTS:  # nothing to sniff here: read where it is checked
        yield Candidate(rel, name, b"", _EMPTY_SHA, PENDING, received, "file", location=full)
        return
    try:
        data = _read_capped(full, cap)
    except OSError as exc:
        yield _rejected(rel, name, st, Code.READ_LOCAL, name=name, error=_local(exc))
        return
    if data is None:  # it grew past the cap between lstat and read
        yield _rejected(rel, name, st, Code.READ_TOO_LARGE, error=f"超过 {_mb(cap)}")
        return
    ctx = _Ctx(path=rel, name=name, received=received, source="file", limits=limits, defer=defer)
    yield from _route(data, ctx)


def _video_on_disk(rel: str, name: str, full: str, received: datetime | None) -> Candidate | None:
    """A video in the inbox as a candidate that carries its path, not its bytes (the worker reads the
    header that holds its length, `media.inspect`); None when the first bytes say it is something else.

    A file named as a video whose content no check recognises is still taken for one (its length then
    cannot be read: a note, not a rejection); one that is a known other kind (a photo, a workbook, a
    zip named .mp4) goes the usual way.
    """
    fd = open_regular(full)
    with os.fdopen(fd, "rb") as fh:
        head = fh.read(VIDEO_HEAD)
    if video_format(head) is None and (_ext(name) not in VIDEO_EXTS or _known_other(head)):
        return None
    found = Finding.make(Code.READ_OTHER_FILE, file=rel, name=name, kind=VIDEO_LABEL)
    return Candidate(rel, name, b"", _EMPTY_SHA, "other", received, "file", findings=(found,), location=full)


def _known_other(head: bytes) -> bool:
    """The first bytes of a file that is certainly not a video (a photo, a document, an archive, a text)."""
    if not head:
        return True  # empty: the usual way reports it as such
    return head.startswith((_ZIP, _CFB)) or _binary_label(head) is not None or b"\x00" not in head
