"""Storage: the one way to open a database. Engines for SQLite (embedded default) and
PostgreSQL with the house settings, plain sqlite3 connections with the same pragmas, write
transactions that take SQLite's lock up front, the Alembic runner every store's migrations go
through, and driver errors sorted into what callers can do.

A component: it knows databases, not anyone's tables (the shop's schema and migrations live
beside its mapper in ``bazaar.shop.adapters``).
"""

from bazaar.storage import migrate
from bazaar.storage.engines import (
    SQLITE_IMMEDIATE,
    EngineOptions,
    backend,
    immediate,
    make_engine,
    sqlite_path,
)
from bazaar.storage.errors import (
    StorageConflict,
    StorageError,
    StorageIntegrityError,
    StorageUnavailable,
    classify,
)
from bazaar.storage.migrate import Migrations
from bazaar.storage.sqlite import connect_sqlite, sqlite_immediate

__all__ = [
    "SQLITE_IMMEDIATE",
    "EngineOptions",
    "Migrations",
    "StorageConflict",
    "StorageError",
    "StorageIntegrityError",
    "StorageUnavailable",
    "backend",
    "classify",
    "connect_sqlite",
    "immediate",
    "make_engine",
    "migrate",
    "sqlite_immediate",
    "sqlite_path",
]
