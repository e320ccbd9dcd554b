"""Storage: engines for SQLite (embedded default) and PostgreSQL, the schema, migrations
(Alembic, shipped in the package), driver errors sorted into what callers can do, and reads
routed to PostgreSQL standbys with read-your-writes by WAL position (``routing``,
``consistency``).

A component: it knows tables, not the shop's domain.
"""

from bazaar.storage import migrate, schema
from bazaar.storage.consistency import ReadYourWrites
from bazaar.storage.engines import SQLITE_IMMEDIATE, EngineOptions, backend, make_engine
from bazaar.storage.errors import (
    StorageConflict,
    StorageError,
    StorageIntegrityError,
    StorageUnavailable,
    classify,
)
from bazaar.storage.routing import (
    Connectable,
    ReadRouter,
    RoutingPolicy,
    format_lsn,
    parse_lsn,
    pinned_to_primary,
    read_token,
)

__all__ = [
    "SQLITE_IMMEDIATE",
    "Connectable",
    "EngineOptions",
    "ReadRouter",
    "ReadYourWrites",
    "RoutingPolicy",
    "StorageConflict",
    "StorageError",
    "StorageIntegrityError",
    "StorageUnavailable",
    "backend",
    "classify",
    "format_lsn",
    "make_engine",
    "migrate",
    "parse_lsn",
    "pinned_to_primary",
    "read_token",
    "schema",
]
