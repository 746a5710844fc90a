"""Adding a file to the inbox (the page's 收件): a stream + the name it came with → a new file in inbox/.

The name is data: only its cleaned basename (`intake.display_name`) is kept, cut to a length every file
system takes, and never joined as a path. Nothing in the inbox is ever overwritten: a taken name gets a
suffix (`名称 (2).xlsx`), and a file whose content is already in the inbox (same size, same SHA-256) is not
stored twice. The bytes go to a hidden temp file in the inbox while they are counted and hashed; the
inbox's own caps (`intake.read_cap`, the sizes collect enforces) are checked before reading, when the
size is declared, and again while reading, so an oversized upload stops at the cap and leaves nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from . import intake
from .findings import Code, Finding
from .materials import IMAGE_EXT, WORD_EXT

CHUNK = 1 << 16
# what a unit sends: forms, mail, archives, photos, documents, short videos of the activity
ACCEPTED = frozenset(
    {
        *intake.SPREADSHEET_EXTS,
        ".eml",
        ".mbox",
        ".zip",
        *IMAGE_EXT,
        *WORD_EXT,
        ".pdf",
        ".docm",
        ".txt",  # links to media reports: a .url shortcut or a web page is refused (it can point anywhere)
        *intake.VIDEO_EXTS,
    }
)
NAME_BYTES = 180  # UTF-8 bytes of a stored name: room left for " (99)" within every file system's 255


@dataclass(frozen=True, slots=True)
class Added:
    """What became of one file: saved (as `path`), same (its content was there: `path`), refused."""

    name: str  # the cleaned name it came with
    outcome: str  # saved | same | refused
    path: str = ""  # relative to the inbox, '/'-separated
    finding: Finding | None = None

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "path": self.path,
            "message": self.finding.message if self.finding else "",
        }


def add(
    inbox: Path,
    raw_name: str,
    stream: BinaryIO,
    *,
    size: int | None = None,
    limits: intake.Limits | None = None,
) -> Added:
    """Store what `stream` holds in `inbox` under a free version of `raw_name`'s cleaned basename."""
    inbox, limits = Path(inbox), limits or intake.Limits()
    name = short_name(intake.display_name(raw_name, "文件"))
    ext = _ext(name)
    if ext not in ACCEPTED:
        finding = Finding.make(Code.UPLOAD_TYPE, name=name, ext=ext or "没有扩展名")
        return Added(name, "refused", finding=finding)
    cap = intake.read_cap(name, limits)
    too_large = Finding.make(Code.UPLOAD_TOO_LARGE, name=name, limit=f"{cap >> 20} MB")
    if size is not None and size > cap:
        return Added(name, "refused", finding=too_large)
    inbox.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=inbox, prefix=".kepuxl-", suffix=".tmp")
    try:
        digest, written = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > cap:
                    return Added(name, "refused", finding=too_large)
                digest.update(chunk)
                out.write(chunk)
        same = _same_content(inbox, written, digest.hexdigest(), skip=Path(tmp))
        if same is not None:
            kept = same.relative_to(inbox).as_posix()
            return Added(name, "same", kept, Finding.make(Code.UPLOAD_SAME, name=name, kept=kept))
        placed = _place(Path(tmp), inbox, name)
        return Added(name, "saved", placed.relative_to(inbox).as_posix())
    finally:
        Path(tmp).unlink(missing_ok=True)


def short_name(name: str) -> str:
    """`name` with its stem cut so the whole is at most NAME_BYTES bytes of UTF-8 (between characters)."""
    if len(name.encode("utf-8")) <= NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    room = NAME_BYTES - len(ext.encode("utf-8")) - len(dot)
    cut = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore").rstrip(". ")
    return f"{cut or '文件'}{dot}{ext}"


def _ext(name: str) -> str:
    stem, dot, ext = name.rpartition(".")
    return f".{ext.lower()}" if dot and stem else ""


def _candidates(name: str) -> Iterator[str]:
    yield name
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    for n in range(2, 10_000):
        yield f"{stem} ({n}){dot}{ext}"


def _place(tmp: Path, inbox: Path, name: str) -> Path:
    """Move `tmp` to the first free name; an existing file is never replaced (not even in a race)."""
    for candidate in _candidates(name):
        target = inbox / candidate
        try:
            if os.name == "nt":  # Windows' rename refuses an existing target
                os.rename(tmp, target)
            else:  # POSIX rename would replace it: a hard link refuses, then the temp name goes
                os.link(tmp, target)
        except FileExistsError:
            continue
        return target
    raise FileExistsError(name)


def _same_content(inbox: Path, size: int, sha256: str, skip: Path) -> Path | None:
    """An inbox file with exactly this content (only files of the same size are hashed)."""
    for folder, dirs, files in os.walk(inbox):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for file in sorted(files):
            path = Path(folder, file)
            if file.startswith(".") or path == skip:
                continue
            try:
                if path.is_symlink() or path.stat().st_size != size:
                    continue
                if _sha256(path) == sha256:
                    return path
            except OSError:
                continue
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
