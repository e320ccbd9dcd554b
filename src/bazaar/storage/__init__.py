"""Storage: the one way to open a database. Engines for SQLite (embedded default) and
PostgreSQL with the house settings, plain sqlite3 connections with the same pragmas, write
transactions that take SQLite's lock up front, the Alembic runner every store's migrations go
through, driver errors sorted into what callers can do, and reads routed to PostgreSQL
standbys with read-your-writes by WAL position (``routing``, ``consistency``), and
primary-key reads on the event loop with no thread hop (``pointreads``).

A component: it knows databases, not anyone's tables (the shop's schema and migrations live
beside its mapper in ``bazaar.shop.adapters``).
"""

from bazaar.storage import migrate
from bazaar.storage.consistency import ReadYourWrites
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
from bazaar.storage.pointreads import Busy, PointReader, point_reader
from bazaar.storage.routing import (
    Connectable,
    ReadRouter,
    RoutingPolicy,
    format_lsn,
    parse_lsn,
    pinned_to_primary,
    read_token,
)
from bazaar.storage.shards import IdGenerator, ShardedStore, ShardMap, shard_of
from bazaar.storage.sqlite import connect_sqlite, sqlite_immediate

__all__ = [
    "SQLITE_IMMEDIATE",
    "Busy",
    "Connectable",
    "EngineOptions",
    "IdGenerator",
    "Migrations",
    "PointReader",
    "ReadRouter",
    "ReadYourWrites",
    "RoutingPolicy",
    "ShardMap",
    "ShardedStore",
    "StorageConflict",
    "StorageError",
    "StorageIntegrityError",
    "StorageUnavailable",
    "backend",
    "classify",
    "connect_sqlite",
    "format_lsn",
    "immediate",
    "make_engine",
    "migrate",
    "parse_lsn",
    "pinned_to_primary",
    "point_reader",
    "read_token",
    "shard_of",
    "sqlite_immediate",
    "sqlite_path",
]
