"""The SQL unit of work: one ``Session``, one transaction, storage errors made shop errors."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bazaar.shop.adapters.errors import shop_error
from bazaar.shop.adapters.events import SqlOutbox
from bazaar.shop.adapters.orm import start_mappers
from bazaar.shop.adapters.repositories import (
    SqlIdempotencyKeys,
    SqlOrders,
    SqlProducts,
    SqlReservations,
    SqlRooms,
    SqlUsers,
)
from bazaar.shop.adapters.reservations import (
    STRATEGIES,
    AtomicReservations,
    ModelReservations,
    Strategy,
    reservations_for,
)
from bazaar.shop.domain import ShopError
from bazaar.storage import SQLITE_IMMEDIATE, backend

log = logging.getLogger(__name__)


class SqlUnitOfWork:
    """``with uow: …; uow.commit()``. Leaving without commit rolls everything back."""

    products: SqlProducts
    rooms: SqlRooms
    orders: SqlOrders
    reservations: SqlReservations
    users: SqlUsers
    idempotency: SqlIdempotencyKeys
    stock: ModelReservations | AtomicReservations
    events: SqlOutbox

    def __init__(self, sessions: sessionmaker[Session], strategy: Strategy) -> None:
        self._sessions = sessions
        self._strategy = strategy

    def __enter__(self) -> Self:
        self.session = s = self._sessions()
        self.products, self.rooms, self.orders = SqlProducts(s), SqlRooms(s), SqlOrders(s)
        self.reservations, self.users = SqlReservations(s), SqlUsers(s)
        self.idempotency = SqlIdempotencyKeys(s)
        self.stock = reservations_for(s, self._strategy)
        self.events = SqlOutbox(s)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.session.rollback()
            self.session.close()
        except Exception as cleanup:  # the connection may already be gone
            log.debug("rollback failed: %s", cleanup)
            self.session.invalidate()
        if exc is not None and not isinstance(exc, ShopError):
            translated = shop_error(exc)
            if translated is not None:
                raise translated from exc

    def commit(self) -> None:
        self.session.commit()


class SqlUnitsOfWork:
    """The factory the services get: ``shop.uow()`` → a fresh :class:`SqlUnitOfWork`."""

    def __init__(self, engine: Engine, strategy: Strategy) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown reservation strategy {strategy!r}; use {STRATEGIES}")
        start_mappers()
        bind = engine
        if strategy == "pessimistic" and backend(str(engine.url)) == "sqlite":
            # SQLite has no row locks: the pessimistic lock is the database write lock,
            # taken when the transaction begins.
            bind = engine.execution_options(**{SQLITE_IMMEDIATE: True})
        self.engine = engine
        self.strategy = strategy
        self._sessions = sessionmaker(bind=bind, expire_on_commit=False, autoflush=False)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions, self.strategy)
