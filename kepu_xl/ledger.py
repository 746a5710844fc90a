"""The ledger: a SQLite file in the campaign folder remembering every file ever collected.

It answers "what did 县教育局 send on the 28th?" and keeps a unit's earlier values, so a
resubmission can be compared with the previous version after the old file left the inbox.
It keeps the clerk's confirmations (`confirmations`: kepuxl confirm, one row per 核实, bound to the
sha256 of the return it confirms, so a newer return voids it). It also remembers every e-mail sent (`sent`: one row per attempt) and fetched (`fetched`: by
Message-ID), so `kepuxl send` and `kepuxl fetch` can be re-run without doing anything twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .findings import Severity
from .results import Confirmation, FileResult

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
CREATE TABLE IF NOT EXISTS sent (
    message_id TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    draft TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    recipient TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS sent_message ON sent (message_id, outcome);
CREATE INDEX IF NOT EXISTS sent_unit ON sent (unit_id, kind, outcome);
CREATE TABLE IF NOT EXISTS confirmations (
    unit_id TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL,
    undone_at TEXT
);
CREATE INDEX IF NOT EXISTS confirmations_unit ON confirmations (unit_id, undone_at);
CREATE TABLE IF NOT EXISTS fetched (
    message_id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    uid TEXT NOT NULL,
    path TEXT NOT NULL,
    at TEXT NOT NULL
);
"""


LEDGER_NAME = "ledger.sqlite"


def ledger_path(state_dir: Path) -> Path:
    """Where a campaign's ledger lives: in its state folder (.kepuxl/)."""
    return state_dir / LEDGER_NAME


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
    verify: int = 0  # 待核实 findings of that file in the run that last saw it
    last_seen: datetime | None = None


_HISTORY = (
    "SELECT sha256, path, unit_id, outcome, received, first_seen, errors, vals, verify, last_seen FROM files "
)
_OLDEST_FIRST = "ORDER BY COALESCE(received, first_seen), path"


def _entry(r: tuple) -> Entry:
    return Entry(
        sha256=r[0],
        path=r[1],
        unit_id=r[2],
        outcome=r[3],
        received=datetime.fromisoformat(r[4]) if r[4] else None,
        first_seen=datetime.fromisoformat(r[5]),
        errors=r[6],
        values=json.loads(r[7]),
        verify=r[8],
        last_seen=datetime.fromisoformat(r[9]),
    )


class Ledger:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.executescript(SCHEMA)
        columns = {r[1] for r in self.db.execute("PRAGMA table_info(files)")}
        if "verify" not in columns:  # a ledger written before 待核实 existed
            self.db.execute("ALTER TABLE files ADD COLUMN verify INTEGER NOT NULL DEFAULT 0")
            self.db.commit()

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        self.db.commit()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stage(self, files: Iterable[FileResult], at: datetime, inbox: str, counts: dict[str, int]) -> None:
        """Upsert every file of a run; the rows wait in an open transaction for `commit()` (all or nothing).

        Closing the ledger without committing drops them (collect stages the run while the summary is
        written, and commits only once it is).
        """
        stamp = at.isoformat(timespec="seconds")
        for f in files:
            self.db.execute(
                """INSERT INTO files (sha256, path, unit_id, outcome, received, first_seen, last_seen, errors,
                     vals, verify) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (sha256) DO UPDATE SET path = excluded.path, unit_id = excluded.unit_id,
                     outcome = excluded.outcome, received = excluded.received, last_seen = excluded.last_seen,
                     errors = excluded.errors, vals = excluded.vals, verify = excluded.verify""",
                (
                    f.sha256,
                    f.path,
                    f.unit_id,
                    f.outcome,
                    f.received.isoformat(timespec="seconds") if f.received else None,
                    stamp,
                    stamp,
                    sum(1 for x in f.findings if x.severity is Severity.ERROR),
                    json.dumps(f.values, ensure_ascii=False, sort_keys=True),
                    sum(1 for x in f.findings if x.severity is Severity.VERIFY),
                ),
            )
        self.db.execute("INSERT INTO runs VALUES (?, ?, ?)", (stamp, inbox, json.dumps(counts)))

    def histories(self) -> dict[str, list[Entry]]:
        """Every file ever attributed to each unit, oldest first, by unit id (one query for all units)."""
        out: dict[str, list[Entry]] = {}
        for r in self.db.execute(_HISTORY + "WHERE unit_id != '' " + _OLDEST_FIRST):
            out.setdefault(r[2], []).append(_entry(r))
        return out

    def history(self, unit_id: str) -> list[Entry]:
        """Every file ever attributed to one unit, oldest first."""
        rows = self.db.execute(_HISTORY + "WHERE unit_id = ? " + _OLDEST_FIRST, (unit_id,))
        return [_entry(r) for r in rows]

    def first_seen(self) -> dict[str, datetime]:
        """When each file content (sha256) was first collected: an upper bound of when it arrived."""
        return {
            r[0]: datetime.fromisoformat(r[1])
            for r in self.db.execute("SELECT sha256, first_seen FROM files")
        }

    # -- confirmations (kepuxl confirm) -----------------------------------------------------------

    def chosen(self, unit_id: str) -> Entry | None:
        """The unit's return that the latest collect run used (None when it never had one)."""
        rows = self.db.execute(
            _HISTORY + "WHERE unit_id = ? AND outcome = 'used' ORDER BY last_seen DESC, "
            "COALESCE(received, first_seen) DESC LIMIT 1",
            (unit_id,),
        ).fetchall()
        return _entry(rows[0]) if rows else None

    def confirm(self, unit_id: str, sha256: str, note: str, at: datetime) -> Confirmation:
        """Record a 核实 of the unit's return with this content; an earlier one of the unit is replaced."""
        stamp = at.isoformat(timespec="seconds")
        with self.db:
            self.db.execute(
                "UPDATE confirmations SET undone_at = ? WHERE unit_id = ? AND undone_at IS NULL",
                (stamp, unit_id),
            )
            self.db.execute(
                "INSERT INTO confirmations VALUES (?, ?, ?, ?, NULL)", (unit_id, sha256, stamp, note)
            )
        return Confirmation(unit_id, sha256, datetime.fromisoformat(stamp), note)

    def undo_confirmation(self, unit_id: str, at: datetime) -> Confirmation | None:
        """Withdraw the unit's 核实 (it stays in the table with its time of withdrawal); None if it had none."""
        current = self.confirmations().get(unit_id)
        if current is not None:
            with self.db:
                self.db.execute(
                    "UPDATE confirmations SET undone_at = ? WHERE unit_id = ? AND undone_at IS NULL",
                    (at.isoformat(timespec="seconds"), unit_id),
                )
        return current

    def confirmations(self) -> dict[str, Confirmation]:
        """Every unit's standing 核实, by unit id (whether it still matches the unit's return is resolve's call)."""
        rows = self.db.execute(
            "SELECT unit_id, sha256, at, note FROM confirmations WHERE undone_at IS NULL ORDER BY at, rowid"
        )
        return {r[0]: Confirmation(r[0], r[1], datetime.fromisoformat(r[2]), r[3]) for r in rows}

    # -- e-mail ------------------------------------------------------------------------------------

    def record_send(
        self,
        *,
        message_id: str,
        unit_id: str,
        kind: str,
        draft: str,
        sha256: str,
        recipient: str,
        at: datetime,
        outcome: str,
        error: str = "",
    ) -> None:
        """One send attempt (outcome "sent" or "failed"), committed at once: a crash right after a
        message went out must not make the next run send it again."""
        with self.db:
            self.db.execute(
                "INSERT INTO sent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message_id,
                    unit_id,
                    kind,
                    draft,
                    sha256,
                    recipient,
                    at.isoformat(timespec="seconds"),
                    outcome,
                    error,
                ),
            )

    def sent_at(self, message_id: str) -> datetime | None:
        """When this message was sent successfully, or None."""
        row = self.db.execute(
            "SELECT MIN(at) FROM sent WHERE message_id = ? AND outcome = 'sent'", (message_id,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def sent_to_unit(self, unit_id: str, kind: str) -> list[tuple[str, datetime]]:
        """(message id, time) of every message of `kind` sent to a unit, oldest first."""
        rows = self.db.execute(
            "SELECT message_id, at FROM sent WHERE unit_id = ? AND kind = ? AND outcome = 'sent' ORDER BY at",
            (unit_id, kind),
        ).fetchall()
        return [(r[0], datetime.fromisoformat(r[1])) for r in rows]

    def first_sent(self, kind: str = "form") -> datetime | None:
        """When the first message of `kind` went out (replies cannot be older)."""
        row = self.db.execute(
            "SELECT MIN(at) FROM sent WHERE kind = ? AND outcome = 'sent'", (kind,)
        ).fetchone()
        return datetime.fromisoformat(row[0]) if row and row[0] else None

    def sent_message_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT DISTINCT message_id FROM sent WHERE outcome = 'sent'")}

    def was_fetched(self, message_id: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM fetched WHERE message_id = ?", (message_id,)).fetchone()
            is not None
        )

    def record_fetch(self, message_id: str, folder: str, uid: str, path: str, at: datetime) -> None:
        with self.db:
            self.db.execute(
                "INSERT OR IGNORE INTO fetched VALUES (?, ?, ?, ?, ?)",
                (message_id, folder, uid, path, at.isoformat(timespec="seconds")),
            )
