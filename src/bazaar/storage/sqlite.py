"""The house pragmas for SQLite, and plain sqlite3 connections that carry them.

Stores that talk to SQLite through the sqlite3 module (the functions registry and queue)
open their connections here, so they learn WAL, the busy timeout, ``synchronous`` and
``BEGIN IMMEDIATE`` from the same place as the SQLAlchemy engines.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")


def check_synchronous(level: str) -> str:
    """``level`` in upper case, or ``ValueError`` naming the allowed ones."""
    if level.upper() not in SYNCHRONOUS:
        raise ValueError(f"sqlite synchronous must be one of {'/'.join(SYNCHRONOUS)}, "
                         f"not {level!r}")
    return level.upper()


def apply_pragmas(conn: sqlite3.Connection, *, synchronous: str = "FULL",
                  busy_timeout_ms: int = 10_000) -> None:
    """WAL journal, a busy timeout, foreign keys on and the ``synchronous`` level."""
    level = check_synchronous(synchronous)
    cursor = conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA synchronous={level}")
    finally:
        cursor.close()


def connect_sqlite(path: Path, *, synchronous: str = "FULL",
                   busy_timeout_ms: int = 10_000) -> sqlite3.Connection:
    """A sqlite3 connection with the house pragmas, in autocommit mode (each statement is its
    own transaction unless inside :func:`sqlite_immediate`). The parent directory is
    created; the connection may be shared between threads (the caller serialises use)."""
    level = check_synchronous(synchronous)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                           timeout=busy_timeout_ms / 1000)
    try:
        apply_pragmas(conn, synchronous=level, busy_timeout_ms=busy_timeout_ms)
    except BaseException:
        conn.close()
        raise
    return conn


@contextmanager
def sqlite_immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction on an autocommit connection: ``BEGIN IMMEDIATE`` (the write lock
    up front), ``COMMIT`` on success, ``ROLLBACK`` on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
