"""Long library calls (collect, send) run beside the server, one at a time, with progress to poll.

A job is a function taking a `progress(done, total, what)` callback — the same callback the CLI's
progress bar gets. Its result or its Chinese error is kept until the next job starts. Starting a job
while one runs is refused (the page shows the running one instead).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..files import os_error_zh
from ..findings import KepuError

Progress = Callable[[int, int, str], None]


@dataclass
class Job:
    kind: str  # collect | send | …
    label: str  # 重新汇总, 发送邮件 …
    done: int = 0
    total: int = 0
    what: str = ""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    result: Any = None
    error: str = ""

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def percent(self) -> int:
        if not self.running:
            return 100
        return int(100 * self.done / self.total) if self.total else 0


class Jobs:
    """At most one job at a time; the latest one stays readable after it ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.current: Job | None = None

    def start(self, kind: str, label: str, work: Callable[[Progress], Any]) -> Job | None:
        """Start `work` in a thread; None (nothing started) when a job is running."""
        with self._lock:
            if self.current is not None and self.current.running:
                return None
            job = Job(kind, label)
            self.current = job
        thread = threading.Thread(target=self._run, args=(job, work), name=f"kepuxl-{kind}", daemon=True)
        thread.start()
        return job

    def _run(self, job: Job, work: Callable[[Progress], Any]) -> None:
        def progress(done: int, total: int, what: str) -> None:
            job.done, job.total, job.what = done, total, what

        try:
            job.result = work(progress)
        except KepuError as exc:
            job.error = "\n".join(f.message for f in exc.findings) or str(exc)
        except OSError as exc:
            job.error = f"{exc.filename or ''} {os_error_zh(exc)}".strip()
        except Exception as exc:  # the page must say something rather than spin forever
            job.error = f"内部错误：{type(exc).__name__}: {exc}"
        finally:
            job.finished = time.monotonic()

    def latest(self, kind: str) -> Job | None:
        job = self.current
        return job if job is not None and job.kind == kind else None
