"""The shop's analytics events, recorded in the same transaction as the change they describe.

Every use case that changes what the pipeline counts (an order placed, paid or cancelled, a
stock level, a new user) records its events through the unit of work's outbox
(:class:`~bazaar.shop.services.ports.EventOutbox`): the rows commit with the change or not at
all, and a relay publishes them to ``shop.events`` later (at least once), so a broker that is
down never fails a request. Product views change nothing in the database: the API hands them
to a :class:`ViewRecorder`, which batches them into the outbox off the request path.

The shape is ``bazaar.pipeline``'s flat shop event (``event_id``, ``type``, ``at`` and the
fields below, ``v`` = :data:`SCHEMA_VERSION`); ids are unique per fact, so a row the relay
publishes twice is one event to the pipeline's dedup.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bazaar.shop.domain import Order
from bazaar.shop.services.ports import UnitOfWork

#: The topic and the version of the events' shape (a new optional field keeps it; a field
#: removed or changed in meaning bumps it).
TOPIC = "shop.events"
SCHEMA_VERSION = 1
VIEWED, ORDER_PLACED, ORDER_PAID = "product_viewed", "order_placed", "order_paid"
ORDER_CANCELLED, STOCK_CHANGED, SIGNED_UP = "order_cancelled", "stock_changed", "user_signed_up"
TYPES = (VIEWED, ORDER_PLACED, ORDER_PAID, ORDER_CANCELLED, STOCK_CHANGED, SIGNED_UP)


def order_placed(uow: UnitOfWork, order: Order) -> None:
    """One ``order_placed`` per line (the warehouse's fact grain), then the lines' stock."""
    assert order.id is not None
    for line in order.lines:
        uow.events.add(ORDER_PLACED, f"order-{order.id}-line-{line.product_id}",
                       str(order.user_id), customer_id=str(order.user_id),
                       order_id=str(order.id), product_id=line.product_id,
                       quantity=line.quantity, price_cents=line.unit_price_cents)
    stock_changed(uow, (ln.product_id for ln in order.lines), f"order-{order.id}")


def order_cancelled(uow: UnitOfWork, order: Order, why: str = "customer") -> None:
    """The order is off (the customer cancelled, or its checkout failed), its stock back."""
    assert order.id is not None
    uow.events.add(ORDER_CANCELLED, f"order-{order.id}-cancelled", str(order.user_id),
                   customer_id=str(order.user_id), order_id=str(order.id), reason=why)
    stock_changed(uow, (ln.product_id for ln in order.lines), f"order-{order.id}-cancel")


def order_paid(uow: UnitOfWork, order: Order) -> None:
    """The checkout charged the order (the saga shipped it: payment came first)."""
    assert order.id is not None
    uow.events.add(ORDER_PAID, f"order-{order.id}-paid", str(order.user_id),
                   customer_id=str(order.user_id), order_id=str(order.id),
                   price_cents=order.total_cents)


def stock_changed(uow: UnitOfWork, product_ids: Iterable[int], cause: str | None = None) -> None:
    """Each product's stock level as this transaction leaves it."""
    tag = cause or uuid.uuid4().hex[:12]
    for pid in sorted(set(product_ids)):
        level = uow.events.stock_level(pid)
        if level is not None:
            uow.events.add(STOCK_CHANGED, f"stock-{pid}-{tag}", str(pid), product_id=pid,
                           stock=level)


def signed_up(uow: UnitOfWork, user_id: int) -> None:
    uow.events.add(SIGNED_UP, f"user-{user_id}", str(user_id), customer_id=str(user_id))


@dataclass(frozen=True)
class View:
    """Someone read a product (``user_id`` None: an app, not a customer)."""

    product_id: int
    user_id: int | None
    at: float


class ViewRecorder(Protocol):
    """Takes product views on the request path without I/O (the API calls it)."""

    def viewed(self, product_id: int, user_id: int | None) -> None: ...


class NoViews:
    """Views go nowhere (a shop built without event publishing)."""

    def viewed(self, product_id: int, user_id: int | None) -> None:
        return None


def record_views(uow: UnitOfWork, views: Sequence[View]) -> None:
    """A batch of views into the outbox (the caller commits)."""
    for v in views:
        who = None if v.user_id is None else str(v.user_id)
        uow.events.add(VIEWED, f"view-{uuid.uuid4().hex}", who or str(v.product_id),
                       at=v.at, customer_id=who, product_id=v.product_id)
