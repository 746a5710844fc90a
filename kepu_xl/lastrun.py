"""What the last collect left behind, for the page and any script: its report, and each unit's versions.

collect (when it writes) saves its report — `report.to_dict()`, the `kepuxl collect --json` contract — as
.kepuxl/last-collect.json, atomically, once its outputs are written and the run is in the ledger; `load`
reads it back (None before the first collect). `versions` lists a unit's returns from the ledger, oldest
first, each with what changed from the one before. The campaign's collect lock lives here too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from . import locks
from .files import write_atomic
from .findings import Code, Finding
from .ledger import Ledger, ledger_path
from .results import Change, CollectReport, changes
from .spec import FormSpec

LAST_NAME = "last-collect.json"
LOCK_NAME = "collect.lock"


def report_path(state_dir: Path) -> Path:
    return Path(state_dir) / LAST_NAME


def lock_path(state_dir: Path) -> Path:
    """The campaign's collect lock (held by every collect that writes: the CLI's and the page's)."""
    return Path(state_dir) / LOCK_NAME


def save(report: CollectReport, state_dir: Path) -> Path:
    """The report as JSON beside the ledger (compact: a province's report is tens of megabytes).

    The outputs' paths are made absolute: the report names them as the command was given them
    (relative to where it ran), and the page may run from elsewhere.
    """
    data = report.to_dict()
    data["outputs"] = {key: _absolute(value) for key, value in data["outputs"].items()}
    for unit in data["units"]:
        unit["feedback"] = _absolute(unit["feedback"])
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return write_atomic(report_path(state_dir), text.encode("utf-8"))


def _absolute(value: Any) -> Any:
    if isinstance(value, list):
        return [_absolute(v) for v in value]
    return os.path.abspath(value) if isinstance(value, str) and value else value


_cache: dict[Path, tuple[tuple[int, int], dict[str, Any]]] = {}


def load(state_dir: Path) -> dict[str, Any] | None:
    """The last saved report (read again only when the file changed), or None before the first collect."""
    path = report_path(state_dir)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    key = (st.st_mtime_ns, st.st_size)
    cached = _cache.get(path)
    if cached is not None and cached[0] == key:
        return cached[1]
    data = json.loads(path.read_bytes())
    _cache[path] = (key, data)
    return data


def busy(exc: locks.Busy) -> Finding:
    """OUT_BUSY for a collect refused because another one holds the lock."""
    holder = exc.holder
    who = f"进程 {holder['pid']}" if holder.get("pid") else "另一个窗口"
    since = str(holder.get("since", "")).replace("T", " ")[:16] or "不久前"
    return Finding.make(Code.OUT_BUSY, who=who, since=since)


@dataclass
class Version:
    """One return of a unit as the ledger remembers it, and what changed from the version before."""

    path: str
    sha256: str
    outcome: str  # used | superseded | rejected | duplicate …
    received: datetime | None
    first_seen: datetime
    errors: int
    verify: int
    changes: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "outcome": self.outcome,
            "received": self.received.isoformat(timespec="seconds") if self.received else None,
            "first_seen": self.first_seen.isoformat(timespec="seconds"),
            "errors": self.errors,
            "verify": self.verify,
            "changes": [c.to_dict() for c in self.changes],
        }


def versions(state_dir: Path, spec: FormSpec, unit_id: str) -> list[Version]:
    """A unit's returns from the ledger, oldest first; each compared with the previous one that had values."""
    path = ledger_path(Path(state_dir))
    if not path.exists():
        return []
    with Ledger(path) as ledger:
        entries = ledger.history(unit_id)
    out: list[Version] = []
    before: dict[str, float | None] | None = None
    for e in entries:
        v = Version(e.path, e.sha256, e.outcome, e.received, e.first_seen, e.errors, e.verify)
        if e.values:
            if before is not None:
                v.changes = changes(spec, before, e.values)
            before = e.values
        out.append(v)
    return out
