"""The ledger: a SQLite file in the campaign folder remembering every file ever collected.

It answers "what did 县教育局 send on the 28th?" and keeps a unit's earlier values, so a
resubmission can be compared with the previous version after the old file left the inbox.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .results import FileResult

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    unit_id TEXT NOT NULL DEFAULT '',
    outcome TEXT NOT NULL,
    received TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    errors INTEGER NOT NULL DEFAULT 0,
    vals TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS files_unit ON files (unit_id, received);
CREATE TABLE IF NOT EXISTS runs (
    at TEXT NOT NULL,
    inbox TEXT NOT NULL,
    counts TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    sha256: str
    path: str
    unit_id: str
    outcome: str
    received: datetime | None
    first_seen: datetime
    errors: int
    values: dict[str, float | None]


class Ledger:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def record(self, files: Iterable[FileResult], at: datetime, inbox: str, counts: dict[str, int]) -> None:
        """Upsert every file of a run in one transaction (all or nothing)."""
        stamp = at.isoformat(timespec="seconds")
        with self.db:
            for f in files:
                self.db.execute(
                    """INSERT INTO files (sha256, path, unit_id, outcome, received, first_seen, last_seen, errors, vals)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, unit_id = excluded.unit_id,
                         outcome = excluded.outcome, received = excluded.received, last_seen = excluded.last_seen,
                         errors = excluded.errors, vals = excluded.vals""",
                    (
                        f.sha256,
                        f.path,
                        f.unit_id,
                        f.outcome,
                        f.received.isoformat(timespec="seconds") if f.received else None,
                        stamp,
                        stamp,
                        sum(1 for x in f.findings if x.severity == "error"),
                        json.dumps(f.values, ensure_ascii=False, sort_keys=True),
                    ),
                )
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?)", (stamp, inbox, json.dumps(counts)))

    def history(self, unit_id: str) -> list[Entry]:
        """Every file ever attributed to a unit, oldest first."""
        rows = self.db.execute(
            "SELECT sha256, path, unit_id, outcome, received, first_seen, errors, vals FROM files "
            "WHERE unit_id = ? ORDER BY COALESCE(received, first_seen), path",
            (unit_id,),
        ).fetchall()
        return [
            Entry(
                sha256=r[0],
                path=r[1],
                unit_id=r[2],
                outcome=r[3],
                received=datetime.fromisoformat(r[4]) if r[4] else None,
                first_seen=datetime.fromisoformat(r[5]),
                errors=r[6],
                values=json.loads(r[7]),
            )
            for r in rows
        ]
