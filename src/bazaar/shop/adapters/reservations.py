"""The three answers to "how do we stop two buyers taking the last unit?", on SQL.

* ``optimistic``: read the row, change it in Python, write it back ``WHERE version = ?``
  (SQLAlchemy's ``version_id_col``); a lost race raises ``RetryableConflict`` and the
  service retries the whole transaction with jittered backoff.
* ``pessimistic``: lock the rows first — ``SELECT … FOR UPDATE`` on PostgreSQL, a
  ``BEGIN IMMEDIATE`` write transaction on SQLite (set up by the unit of work) — then change
  them; nobody else can read-then-write them meanwhile.
* ``atomic``: one conditional statement, ``UPDATE … SET stock = stock - n WHERE id = ? AND
  stock >= n``; the database checks and writes in one step, no read, no retry.

Rows are always touched in a fixed order (products by id, nights by date) so concurrent
transactions cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal

from sqlalchemy import and_, func, select, update
from sqlalchemy.orm import Session

from bazaar.shop.adapters import schema
from bazaar.shop.domain import (
    InvalidInput,
    NotFound,
    NotHeld,
    Product,
    RoomNight,
    SoldOut,
    check_quantity,
    check_rooms,
)
from bazaar.shop.domain.products import MAX_STOCK

Strategy = Literal["optimistic", "pessimistic", "atomic"]
STRATEGIES: tuple[Strategy, ...] = ("optimistic", "pessimistic", "atomic")


class ModelReservations:
    """Optimistic and pessimistic: load the rows, let the domain decide, flush."""

    def __init__(self, session: Session, strategy: Strategy) -> None:
        self._s = session
        self.strategy = strategy
        self._lock = strategy == "pessimistic"

    def _product(self, product_id: int) -> Product:
        product = self._s.get(Product, product_id, with_for_update=self._lock or None)
        if product is None:
            raise NotFound("product", product_id)
        return product

    def take_stock(self, product_id: int, quantity: int) -> int:
        product = self._product(product_id)
        product.reserve(quantity)
        self._s.flush()  # UPDATE … WHERE id = ? AND version = ?
        return product.price_cents

    def put_stock(self, product_id: int, quantity: int) -> None:
        product = self._product(product_id)
        product.restock(quantity)
        self._s.flush()

    def _nights(self, room_id: int, nights: Sequence[date]) -> list[RoomNight]:
        n = schema.room_nights
        query = (select(RoomNight).where(n.c.room_id == room_id, n.c.night.in_(nights))
                 .order_by(n.c.night))
        if self._lock:
            query = query.with_for_update()
        found = list(self._s.scalars(query))
        if len(found) != len(nights):
            _missing_nights(self._s, room_id, nights, 1)
        return found

    def take_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None:
        for night in self._nights(room_id, nights):
            night.book(rooms)
        self._s.flush()

    def return_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None:
        for night in self._nights(room_id, nights):
            night.release(rooms)
        self._s.flush()


class AtomicReservations:
    """One conditional UPDATE per row set; the database is the referee."""

    strategy: Strategy = "atomic"

    def __init__(self, session: Session) -> None:
        self._s = session

    def take_stock(self, product_id: int, quantity: int) -> int:
        check_quantity(quantity)
        p = schema.products
        price = self._s.scalar(
            update(p).where(p.c.id == product_id, p.c.stock >= quantity)
            .values(stock=p.c.stock - quantity, version=p.c.version + 1)
            .returning(p.c.price_cents))
        if price is None:
            stock = self._s.scalar(select(p.c.stock).where(p.c.id == product_id))
            if stock is None:
                raise NotFound("product", product_id)
            raise SoldOut("product", product_id, quantity, stock)
        return int(price)

    def put_stock(self, product_id: int, quantity: int) -> None:
        p = schema.products
        result = self._s.execute(
            update(p).where(p.c.id == product_id, p.c.stock <= MAX_STOCK - quantity)
            .values(stock=p.c.stock + quantity, version=p.c.version + 1))
        if not result.rowcount:  # type: ignore[attr-defined]
            if self._s.scalar(select(p.c.id).where(p.c.id == product_id)) is None:
                raise NotFound("product", product_id)
            raise InvalidInput("quantity", f"stock would exceed {MAX_STOCK}")

    def take_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None:
        check_rooms(rooms)
        n = schema.room_nights
        result = self._s.execute(
            update(n).where(n.c.room_id == room_id, n.c.night.in_(nights),
                            n.c.total - n.c.reserved >= rooms)
            .values(reserved=n.c.reserved + rooms, version=n.c.version + 1))
        if result.rowcount != len(nights):  # type: ignore[attr-defined]
            # Some night was full (or not on sale): the caller's rollback undoes the rest.
            available = _missing_nights(self._s, room_id, nights, rooms)
            raise SoldOut("room", room_id, rooms, available)

    def return_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None:
        check_rooms(rooms)
        n = schema.room_nights
        returned = set(self._s.scalars(
            update(n).where(n.c.room_id == room_id, n.c.night.in_(nights))
            .where(n.c.reserved >= rooms)
            .values(reserved=n.c.reserved - rooms, version=n.c.version + 1)
            .returning(n.c.night)))
        if len(returned) != len(set(nights)):
            # A night that holds fewer rooms than come back (a double give-back): say which;
            # the caller's rollback undoes the nights already updated.
            _not_held(self._s, room_id, [d for d in nights if d not in returned], rooms)


def _missing_nights(session: Session, room_id: int, nights: Sequence[date], rooms: int) -> int:
    """Explain a failed night lookup: ``NotFound`` for no such room, else ``SoldOut`` when
    a night is not on sale; returns the fewest rooms free on any night otherwise."""
    r, n = schema.rooms, schema.room_nights
    if session.scalar(select(r.c.id).where(r.c.id == room_id)) is None:
        raise NotFound("room", room_id)
    row = session.execute(
        select(func.count(), func.min(n.c.total - n.c.reserved))
        .where(and_(n.c.room_id == room_id, n.c.night.in_(nights)))).one()
    if row[0] != len(nights):
        raise SoldOut("room", room_id, rooms, 0)
    return int(row[1] or 0)


def _not_held(session: Session, room_id: int, nights: Sequence[date], rooms: int) -> None:
    """Raise ``NotFound`` for no such room, else ``NotHeld`` for the first of ``nights``
    (those the conditional UPDATE left alone) holding fewer than ``rooms``, or not on sale."""
    r, n = schema.rooms, schema.room_nights
    if session.scalar(select(r.c.id).where(r.c.id == room_id)) is None:
        raise NotFound("room", room_id)
    held = {row.night: int(row.reserved) for row in session.execute(
        select(n.c.night, n.c.reserved).where(n.c.room_id == room_id, n.c.night.in_(nights)))}
    short = [d for d in sorted(nights) if held.get(d, 0) < rooms]
    night = short[0] if short else min(nights)
    raise NotHeld("room", f"{room_id} on {night.isoformat()}", rooms, held.get(night, 0))


def reservations_for(session: Session,
                     strategy: Strategy) -> ModelReservations | AtomicReservations:
    """The ``Reservations`` port implementation for ``strategy``."""
    if strategy == "atomic":
        return AtomicReservations(session)
    if strategy in ("optimistic", "pessimistic"):
        return ModelReservations(session, strategy)
    raise ValueError(f"unknown reservation strategy {strategy!r}; use one of {STRATEGIES}")
