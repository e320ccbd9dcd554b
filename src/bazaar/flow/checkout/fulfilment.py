"""The shipping and notification services, and the order record the saga ends in."""

from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.checkout.faults import Faults
from bazaar.flow.errors import NonRetryableError
from bazaar.flow.orchestrator.store import Store

shipping_metadata = sa.MetaData()
shipments = sa.Table(
    "shipments", shipping_metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("shipment_id", sa.String(40), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
)
notify_metadata = sa.MetaData()
notifications = sa.Table(
    "notifications", notify_metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)
orders_metadata = sa.MetaData()
orders = sa.Table(
    "checkout_orders", orders_metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("status", sa.String(16), nullable=False),  # pending | completed | failed
    sa.Column("reason", sa.Text),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("ended_at", sa.Float),
)


class NoCarrier(NonRetryableError):
    """No carrier takes the parcel: final, the saga must compensate."""


class CarrierBusy(Exception):
    """A transient shipping error."""


class MailerBusy(Exception):
    """A transient notification error."""


class ShippingService:
    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults, self.rng = store, faults, faults.rng("shipping")

    def create(self, order_id: str, conn: Connection | None = None) -> dict[str, Any]:
        """Create the shipment (the pivot): idempotent per order."""
        if conn is None:
            with self.store.begin() as own:
                return self.create(order_id, own)
        found = conn.execute(sa.select(shipments.c.shipment_id).where(
            shipments.c.order_id == order_id)).first()
        if found is not None:
            return {"shipment_id": found.shipment_id, "replayed": True}
        if self.rng.random() < self.faults.ship_flaky_rate:
            raise CarrierBusy(f"carrier busy for {order_id}")
        if self.rng.random() < self.faults.ship_fail_rate:
            raise NoCarrier(f"no carrier accepts order {order_id}")
        shipment_id = uuid.uuid4().hex
        conn.execute(shipments.insert().values(order_id=order_id, shipment_id=shipment_id,
                                               at=time.time()))
        return {"shipment_id": shipment_id, "replayed": False}

    def shipped(self) -> set[str]:
        with self.store.read() as conn:
            return set(conn.execute(sa.select(shipments.c.order_id)).scalars())


class NotificationService:
    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults, self.rng = store, faults, faults.rng("notify")

    def notify(self, order_id: str, conn: Connection | None = None) -> dict[str, Any]:
        """Tell the customer (retried until done; idempotent per order)."""
        if conn is None:
            with self.store.begin() as own:
                return self.notify(order_id, own)
        if conn.execute(sa.select(notifications.c.order_id).where(
                notifications.c.order_id == order_id)).first() is not None:
            return {"notified": True, "replayed": True}
        if self.rng.random() < self.faults.notify_flaky_rate:
            raise MailerBusy(f"mail server busy for {order_id}")
        conn.execute(notifications.insert().values(order_id=order_id, at=time.time()))
        return {"notified": True, "replayed": False}


class OrderBook:
    """The order service's view of checkouts: pending until the saga completes or fails."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def open(self, order_id: str, amount_cents: int, items: str,
             conn: Connection | None = None) -> bool:
        """Record a new checkout; False if it exists (idempotent)."""
        if conn is None:
            with self.store.begin() as own:
                return self.open(order_id, amount_cents, items, own)
        if conn.execute(sa.select(orders.c.order_id).where(
                orders.c.order_id == order_id)).first() is not None:
            return False
        conn.execute(orders.insert().values(order_id=order_id, status="pending",
                                            amount_cents=amount_cents, items=items,
                                            created_at=time.time()))
        return True

    def close(self, order_id: str, status: str, reason: str | None = None,
              conn: Connection | None = None) -> bool:
        """pending → completed | failed, once; later calls change nothing."""
        if conn is None:
            with self.store.begin() as own:
                return self.close(order_id, status, reason, own)
        done = conn.execute(orders.update().where(orders.c.order_id == order_id,
                                                  orders.c.status == "pending")
                            .values(status=status, reason=reason, ended_at=time.time()))
        return done.rowcount == 1

    def get(self, order_id: str) -> dict[str, Any] | None:
        with self.store.read() as conn:
            row = conn.execute(sa.select(orders).where(orders.c.order_id == order_id)).first()
        return None if row is None else dict(row._mapping)

    def all(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.select(orders))]
