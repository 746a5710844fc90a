"""The ledger: a SQLite file in the campaign folder remembering every file ever collected.

It answers "what did 县教育局 send on the 28th?" and keeps a unit's earlier values, so a
resubmission can be compared with the previous version after the old file left the inbox.
It keeps the clerk's confirmations (`confirmations`: kepuxl confirm, one row per 核实, bound to the
sha256 of the return it confirms, so a newer return voids it).
Each collect run is a row of `runs`, committed with its files before any output is replaced and marked
`state = 'done'` (with the paths and SHA-256 of what it wrote, `outputs`) once they all are: a run killed in
between stays 'writing', which the next collect reports (OUT_INTERRUPTED) and repairs by writing everything
again. Opening and checking the ledger turn SQLite's errors (locked, read-only) into Chinese `KepuError`s.
It also remembers every e-mail sent (`sent`: one row per attempt) and fetched (`fetched`: by
Message-ID), so `kepuxl send` and `kepuxl fetch` can be re-run without doing anything twice.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .files import os_error_zh
from .findings import Code, Finding, KepuError, Severity
from .results import Confirmation, FileResult

BUSY_SECONDS = 5.0  # how long to wait for another program's lock on the ledger before giving up

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
    counts TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'done',
    outputs TEXT NOT NULL DEFAULT '{}'
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
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._readonly(os_error_zh(exc)) from None
        try:
            self.db = sqlite3.connect(path, timeout=BUSY_SECONDS)
            self.db.executescript(SCHEMA)
            columns = {r[1] for r in self.db.execute("PRAGMA table_info(files)")}
            if "verify" not in columns:  # a ledger written before 待核实 existed
                self.db.execute("ALTER TABLE files ADD COLUMN verify INTEGER NOT NULL DEFAULT 0")
                self.db.commit()
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def close(self) -> None:
        self.db.close()

    def commit(self) -> None:
        try:
            self.db.commit()
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors ------------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise now, in Chinese, if a run could not be recorded: the file or its folder is read-only, or
        another program holds the ledger. A trial write (taking the write lock, creating the journal
        beside the file) is made and rolled back."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO runs (at, inbox, counts) VALUES ('', '', '{}')")
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        finally:
            self.db.rollback()

    def error(self, exc: sqlite3.Error) -> KepuError:
        """A SQLite error on this ledger as a Chinese error saying what to do."""
        name = getattr(exc, "sqlite_errorname", "")
        text = str(exc)
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
            return KepuError(
                Finding.make(Code.LEDGER_LOCKED, path=str(self.path), seconds=f"{BUSY_SECONDS:g}")
            )
        if name == "SQLITE_READONLY_DIRECTORY":
            return self._readonly("所在文件夹只读或没有写入权限")
        if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")):
            return self._readonly("文件或所在磁盘只读，或没有写入权限")
        if name == "SQLITE_FULL":
            return self._readonly("磁盘空间已满")
        return KepuError(
            Finding.make(
                Code.LEDGER_FAILED, path=str(self.path), error=f"{name or type(exc).__name__}: {text}"
            )
        )

    def _readonly(self, why: str) -> KepuError:
        folder = str(self.path.parent)
        return KepuError(Finding.make(Code.LEDGER_READONLY, path=str(self.path), error=why, folder=folder))

    # -- collect runs ------------------------------------------------------------------------------

    def stage(self, files: Iterable[FileResult], at: datetime, inbox: str, counts: dict[str, int]) -> int:
        """Upsert every file of a run and add the run, state 'writing'; returns the run's id.

        The rows wait in an open transaction for `commit()` (all or nothing): collect stages the run
        while the outputs are built, commits it before they replace the old ones, and marks it done
        (`finish`) once they have. Runs left 'writing' by a killed run become 'interrupted' here.
        """
        stamp = at.isoformat(timespec="seconds")
        try:
            self._add_run_columns()
            for f in files:
                self.db.execute(
                    """INSERT INTO files (sha256, path, unit_id, outcome, received, first_seen, last_seen,
                         errors, vals, verify) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
            self.db.execute("UPDATE runs SET state = 'interrupted' WHERE state = 'writing'")
            cur = self.db.execute(
                "INSERT INTO runs (at, inbox, counts, state) VALUES (?, ?, ?, 'writing')",
                (stamp, inbox, json.dumps(counts)),
            )
        except sqlite3.Error as exc:
            raise self.error(exc) from None
        return int(cur.lastrowid or 0)

    def finish(self, run: int, outputs: dict) -> None:
        """The run's outputs are all in place: mark it done, with what they are (paths and SHA-256)."""
        try:
            with self.db:
                self.db.execute(
                    "UPDATE runs SET state = 'done', outputs = ? WHERE rowid = ?",
                    (json.dumps(outputs, ensure_ascii=False, sort_keys=True), run),
                )
        except sqlite3.Error as exc:
            raise self.error(exc) from None

    def unfinished(self) -> list[str]:
        """When the runs began whose outputs were never all put in place (the run was killed)."""
        if "state" not in self._run_columns():
            return []
        return [r[0] for r in self.db.execute("SELECT at FROM runs WHERE state = 'writing' ORDER BY rowid")]

    def _run_columns(self) -> set[str]:
        return {r[1] for r in self.db.execute("PRAGMA table_info(runs)")}

    def _add_run_columns(self) -> None:
        """A ledger made before runs had a state gets the columns (its runs count as done)."""
        have = self._run_columns()
        if "state" not in have:
            self.db.execute("ALTER TABLE runs ADD COLUMN state TEXT NOT NULL DEFAULT 'done'")
        if "outputs" not in have:
            self.db.execute("ALTER TABLE runs ADD COLUMN outputs TEXT NOT NULL DEFAULT '{}'")

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
