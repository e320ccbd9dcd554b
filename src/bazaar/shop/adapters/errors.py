"""Storage failures as the shop's errors: the one place the adapters translate them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bazaar.shop.domain import RetryableConflict, ShopError, StateConflict, Unavailable
from bazaar.storage import StorageConflict, StorageIntegrityError, StorageUnavailable, classify


def shop_error(exc: BaseException) -> ShopError | None:
    """The shop error a storage failure means to a caller, or ``None``."""
    error = classify(exc)
    if isinstance(error, StorageConflict):
        return RetryableConflict(f"a concurrent update won; try again ({error})")
    if isinstance(error, StorageUnavailable):
        return Unavailable("the database is unavailable; nothing was written")
    if isinstance(error, StorageIntegrityError) and "foreign key" in str(error).lower():
        # A foreign key: the request refers to a row that is gone (e.g. its user was
        # deleted while the token lives on). Duplicates are the repositories' to name;
        # a failed CHECK is a bug and stays a 500.
        return StateConflict("this request refers to something that no longer exists "
                             "(its user, room or product was removed); nothing was written")
    return None


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise storage failures inside the block as shop errors."""
    try:
        yield
    except ShopError:
        raise
    except Exception as exc:
        error = shop_error(exc)
        if error is None:
            raise
        raise error from exc
