"""Storage errors: driver exceptions sorted into what a caller can do about them."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError

#: PostgreSQL SQLSTATEs that mean "a concurrent transaction won; try again".
_PG_RETRYABLE = {"40001", "40P01", "55P03"}


class StorageError(Exception):
    """Base of the storage errors."""


class StorageUnavailable(StorageError):
    """The database cannot be reached (refused, timed out, shut down); nothing was written."""


class StorageConflict(StorageError):
    """A concurrent writer got there first (stale version, lock timeout, deadlock, busy)."""


class StorageIntegrityError(StorageError):
    """A constraint said no (a duplicate key, a check); ``constraint`` names it if known."""

    def __init__(self, message: str, constraint: str | None = None,
                 unique: bool = False) -> None:
        super().__init__(message)
        self.constraint = constraint
        #: A duplicate key (as opposed to a foreign key or check failing).
        self.unique = unique


def classify(exc: BaseException) -> StorageError | None:
    """The storage error ``exc`` stands for, or ``None`` if it is not a database problem."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, StaleDataError):
        return StorageConflict(f"row changed by a concurrent writer: {exc}")
    if isinstance(exc, sa_exc.TimeoutError):
        return StorageUnavailable(f"no database connection free: {exc}")
    if not isinstance(exc, sa_exc.DBAPIError):
        return None
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    text = str(orig).lower()
    if isinstance(exc, sa_exc.IntegrityError):
        constraint = getattr(getattr(orig, "diag", None), "constraint_name", None)
        unique = sqlstate == "23505" or "unique constraint failed" in text
        return StorageIntegrityError(str(orig), constraint, unique)
    if sqlstate in _PG_RETRYABLE:
        return StorageConflict(f"concurrent transaction ({sqlstate}): {orig}")
    if type(orig).__module__ == "sqlite3":
        if "locked" in text or "busy" in text:
            return StorageConflict(f"SQLite busy: {orig}")
        if "unable to open" in text or "disk i/o" in text:
            return StorageUnavailable(f"database file unusable: {orig}")
        return None
    if exc.connection_invalidated or (sqlstate or "").startswith(("08", "57P")):
        return StorageUnavailable(f"database unreachable: {orig}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError) and sqlstate is None:
        return StorageUnavailable(f"database unreachable: {orig}")
    return None
