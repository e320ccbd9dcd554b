"""The internal durable queue for Event (async) invocations, and its dead-letter store.

SQLite in WAL mode with ``synchronous=FULL``: an event acknowledged with 202 is on disk and
survives a crash of the whole platform. Pollers *lease* events (a lease that lapses makes the
event visible again), so an event whose poller or host died is delivered again: at least once.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bazaar.functions._errors import NotFound, QueueError
from bazaar.functions._model import DeadLetter
from bazaar.functions._registry import open_database
from bazaar.storage import Migrations, StorageError, sqlite_immediate

#: The queue's migrations (run at open); ``_migrations/queue`` holds the schema.
MIGRATIONS = Migrations("bazaar.functions._migrations.queue",
                        version_table="functions_queue_alembic_version")


@dataclass(frozen=True)
class QueuedEvent:
    """One leased event."""

    id: int
    request_id: str
    function: str
    qualifier: str
    payload: bytes
    enqueued_at: float
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What became of a leased event: ``done``, ``retry`` at ``not_before`` (spending an
    attempt or not), or ``dead`` with a reason."""

    event: QueuedEvent
    kind: str  # "done" | "retry" | "dead"
    not_before: float = 0.0
    spend_attempt: bool = True
    reason: str = ""
    error: dict[str, Any] | None = None


class DurableQueue:
    """Events and dead letters in one SQLite file. Thread-safe; every method is one
    transaction."""

    def __init__(self, path: Path) -> None:
        try:
            self._db = open_database(path, MIGRATIONS)
        except (sqlite3.Error, StorageError) as exc:
            raise QueueError(f"cannot open the event queue at {path}: {exc}") from exc
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def _tx(self, fn: Any) -> Any:
        with self._lock:
            try:
                with sqlite_immediate(self._db) as db:
                    return fn(db)
            except sqlite3.Error as exc:
                raise QueueError(f"event queue: {exc}") from exc

    def put_many(self, rows: list[tuple[str, str, str, bytes]]) -> None:
        """Append (request_id, function, qualifier, payload) rows in one fsync'd commit."""
        now = time.time()
        self._tx(lambda db: db.executemany(
            "INSERT INTO events (request_id, function, qualifier, payload, enqueued_at) "
            "VALUES (?, ?, ?, ?, ?)", [(*row, now) for row in rows]))

    def release_leases(self) -> int:
        """Make every leased event visible again (the control plane restarted)."""
        cursor: sqlite3.Cursor = self._tx(
            lambda db: db.execute("UPDATE events SET leased_until = 0 WHERE leased_until > 0"))
        return cursor.rowcount

    def lease(self, limit: int, lease_s: float) -> list[QueuedEvent]:
        """Take up to ``limit`` due events for ``lease_s`` seconds, oldest first."""
        now = time.time()

        def take(db: sqlite3.Connection) -> list[QueuedEvent]:
            rows = db.execute(
                "SELECT id, request_id, function, qualifier, payload, enqueued_at, attempts "
                "FROM events WHERE not_before <= ? AND leased_until <= ? ORDER BY id LIMIT ?",
                (now, now, limit)).fetchall()
            db.executemany("UPDATE events SET leased_until = ? WHERE id = ?",
                           [(now + lease_s, r[0]) for r in rows])
            return [QueuedEvent(*r) for r in rows]

        result: list[QueuedEvent] = self._tx(take)
        return result

    def due(self, limit: int, exclude: set[int]) -> list[QueuedEvent]:
        """Up to ``limit`` due events, oldest first, skipping ids in ``exclude`` (the events
        in flight). A read: the single control plane keeps its leases in memory."""
        now = time.time()
        with self._lock:
            rows = self._db.execute(
                "SELECT id, request_id, function, qualifier, payload, enqueued_at, attempts "
                "FROM events WHERE not_before <= ? ORDER BY id LIMIT ?",
                (now, limit + len(exclude))).fetchall()
        return [QueuedEvent(*r) for r in rows if r[0] not in exclude][:limit]

    def write_batch(self, rows: list[tuple[str, str, str, bytes]],
                    outcomes: list[Outcome]) -> None:
        """New events and settled ones in one fsync'd commit (the group commit)."""
        now = time.time()

        def write(db: sqlite3.Connection) -> None:
            if rows:
                db.executemany(
                    "INSERT INTO events (request_id, function, qualifier, payload, enqueued_at) "
                    "VALUES (?, ?, ?, ?, ?)", [(*row, now) for row in rows])
            self._settle(db, outcomes, now)

        self._tx(write)

    def settle(self, outcomes: list[Outcome]) -> None:
        """Record what happened to leased events, all in one commit."""
        now = time.time()
        self._tx(lambda db: self._settle(db, outcomes, now))

    @staticmethod
    def _settle(db: sqlite3.Connection, outcomes: list[Outcome], now: float) -> None:
        for o in outcomes:
            e = o.event
            if o.kind == "done":
                db.execute("DELETE FROM events WHERE id = ?", (e.id,))
            elif o.kind == "retry":
                db.execute("UPDATE events SET attempts = attempts + ?, not_before = ?, "
                           "leased_until = 0, last_error = ? WHERE id = ?",
                           (int(o.spend_attempt), o.not_before,
                            json.dumps(o.error) if o.error else None, e.id))
            else:
                attempts = e.attempts + int(o.spend_attempt)
                db.execute("INSERT INTO dead_letters (request_id, function, qualifier, "
                           "payload, enqueued_at, attempts, reason, error, failed_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (e.request_id, e.function, e.qualifier, e.payload,
                            e.enqueued_at, attempts, o.reason,
                            json.dumps(o.error) if o.error else None, now))
                db.execute("DELETE FROM events WHERE id = ?", (e.id,))

    def depth(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def next_due(self, exclude: set[int] | None = None) -> float | None:
        """When the earliest waiting event not in ``exclude`` becomes due (None: none)."""
        ids = sorted(exclude or ())
        with self._lock:
            row = self._db.execute(
                f"SELECT min(not_before) FROM events WHERE id NOT IN ({','.join('?' * len(ids))})",
                ids).fetchone()
        return None if row[0] is None else float(row[0])

    # --- dead letters -----------------------------------------------------------------------
    def dead_letters(self, function: str | None = None, limit: int = 100) -> list[DeadLetter]:
        sql = ("SELECT id, function, qualifier, payload, enqueued_at, attempts, reason, error, "
               "failed_at FROM dead_letters")
        args: tuple[Any, ...] = ()
        if function is not None:
            sql += " WHERE function = ?"
            args = (function,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id LIMIT ?", (*args, limit)).fetchall()
        return [DeadLetter(r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6],
                           json.loads(r[7]) if r[7] else None, r[8]) for r in rows]

    def redrive(self, ids: list[int] | None = None, function: str | None = None) -> int:
        """Move dead letters back onto the queue as fresh events (attempts and age reset).
        ``ids`` picks letters; otherwise all (of ``function``). Raises NotFound for an
        unknown id; nothing moves then."""
        now = time.time()

        def move(db: sqlite3.Connection) -> int:
            args: list[Any]
            if ids is not None:
                found = {r[0] for r in db.execute(
                    f"SELECT id FROM dead_letters WHERE id IN ({','.join('?' * len(ids))})",
                    ids)} if ids else set()
                missing = sorted(set(ids) - found)
                if missing:
                    raise NotFound(f"no dead letter(s) {missing}")
                where, args = f"id IN ({','.join('?' * len(ids))})", list(ids)
            elif function is not None:
                where, args = "function = ?", [function]
            else:
                where, args = "1", []
            cursor = db.execute(
                "INSERT INTO events (request_id, function, qualifier, payload, enqueued_at) "
                f"SELECT request_id, function, qualifier, payload, ? FROM dead_letters "
                f"WHERE {where} ORDER BY id", [now, *args])
            db.execute(f"DELETE FROM dead_letters WHERE {where}", args)
            return cursor.rowcount

        moved: int = self._tx(move)
        return moved

    def add_dead_letter(self, request_id: str, function: str, qualifier: str, payload: bytes,
                        attempts: int, reason: str, error: dict[str, Any] | None) -> None:
        """Record a failure that never was a queued event (an event source's batch)."""
        now = time.time()
        self._tx(lambda db: db.execute(
            "INSERT INTO dead_letters (request_id, function, qualifier, payload, enqueued_at, "
            "attempts, reason, error, failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (request_id, function, qualifier, payload, now, attempts, reason,
             json.dumps(error) if error else None, now)))

    def delete_dead_letter(self, letter_id: int) -> None:
        def drop(db: sqlite3.Connection) -> None:
            if db.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,)).rowcount == 0:
                raise NotFound(f"no dead letter {letter_id}")
        self._tx(drop)
