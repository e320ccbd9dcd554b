"""Storage: engines for SQLite (embedded default) and PostgreSQL, the schema, migrations
(Alembic, shipped in the package), and driver errors sorted into what callers can do.

A component: it knows tables, not the shop's domain.
"""

from bazaar.storage import migrate, schema
from bazaar.storage.engines import SQLITE_IMMEDIATE, EngineOptions, backend, make_engine
from bazaar.storage.errors import (
    StorageConflict,
    StorageError,
    StorageIntegrityError,
    StorageUnavailable,
    classify,
)

__all__ = [
    "SQLITE_IMMEDIATE",
    "EngineOptions",
    "StorageConflict",
    "StorageError",
    "StorageIntegrityError",
    "StorageUnavailable",
    "backend",
    "classify",
    "make_engine",
    "migrate",
    "schema",
]
