"""One job at a time per campaign: a lock file held with an operating-system lock.

`held(path)` takes an exclusive lock on `path` (created if missing, never deleted) and writes who holds
it (process id, host, start time, what) into the file for the message a second taker reads. The lock is
the OS's (`fcntl.flock` on POSIX, `msvcrt.locking` on Windows), not the file's existence: the OS drops
it when the holder's process ends, however it ends (Ctrl-C, a crash, a power cut), so a stale lock
cannot outlive its process and nobody has to guess whether a recorded pid is still alive. Two takers in
one process (two threads of the page's server) exclude each other too: each opens the file anew.

Generic infrastructure: imports nothing from the package (like workers.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

if os.name == "nt":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _REGION, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _REGION, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


# Windows locks are mandatory: the locked byte lies past the holder's note, so the note stays readable.
_REGION = 1 << 20
POLL = 0.1  # seconds between two tries while waiting


class Busy(Exception):
    """The lock is held by another job; `holder` is what that job wrote (pid, host, since, what)."""

    def __init__(self, path: Path, holder: dict[str, Any]):
        super().__init__(f"{path} is held by {holder}")
        self.path = path
        self.holder = holder


@contextlib.contextmanager
def held(path: Path, what: str = "", *, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock on `path` for the block; raise `Busy` when another holder keeps it past `wait` s."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o600)
    try:
        deadline = time.monotonic() + wait
        while not _try_lock(fd):
            if time.monotonic() >= deadline:
                raise Busy(path, holder(path))
            time.sleep(POLL)
        try:
            _note(fd, what)
            yield
        finally:
            _unlock(fd)
    finally:
        os.close(fd)


def holder(path: Path) -> dict[str, Any]:
    """Who wrote the lock file last ({} when unreadable): meaningful while the lock is held."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(4096).split(b"\0", 1)[0] or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_held(path: Path) -> bool:
    """Whether some job holds the lock now (a snapshot: it may change right after)."""
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        return False
    try:
        if _try_lock(fd):
            _unlock(fd)
            return False
        return True
    finally:
        os.close(fd)


def _note(fd: int, what: str) -> None:
    note = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now().isoformat(timespec="seconds"),
        "what": what,
    }
    data = json.dumps(note, ensure_ascii=False).encode("utf-8")
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, data + b"\0")
    os.ftruncate(fd, len(data) + 1)
