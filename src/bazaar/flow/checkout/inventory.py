"""The inventory service: stock → reserved → shipped per SKU, one reservation per order.

Every operation is idempotent per order, and a release that arrives before its reservation
leaves a tombstone so the late reservation is refused (out-of-order tolerant). The sum
stock + reserved + shipped of each SKU never changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.errors import NonRetryableError

metadata = sa.MetaData()
stock = sa.Table(
    "inventory_stock", metadata,
    sa.Column("sku", sa.String(64), primary_key=True),
    sa.Column("stock", sa.Integer, nullable=False),
    sa.Column("reserved", sa.Integer, nullable=False),
    sa.Column("shipped", sa.Integer, nullable=False),
)
reservations = sa.Table(
    "inventory_reservations", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("items", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # reserved | released | shipped
)


class OutOfStock(NonRetryableError):
    """Not enough stock for the order: final, nothing to retry."""


def add_stock(conn: Connection, levels: Mapping[str, int]) -> None:
    for sku, n in levels.items():
        conn.execute(stock.insert().values(sku=sku, stock=n, reserved=0, shipped=0))


def reserve(conn: Connection, order_id: str, items: Mapping[str, int]) -> dict[str, Any]:
    """Move each item's quantity from stock to reserved, all or nothing."""
    found = conn.execute(sa.select(reservations.c.status).where(
        reservations.c.order_id == order_id)).first()
    if found is not None:
        if found.status == "released":
            raise OutOfStock(f"order {order_id} was released before it was reserved")
        return {"reservation": order_id, "replayed": True}
    for sku, n in sorted(items.items()):
        moved = conn.execute(stock.update().where(stock.c.sku == sku, stock.c.stock >= n)
                             .values(stock=stock.c.stock - n, reserved=stock.c.reserved + n))
        if moved.rowcount != 1:
            raise OutOfStock(f"not enough {sku} for order {order_id}")
    conn.execute(reservations.insert().values(order_id=order_id, items=orjson.dumps(
        dict(items)).decode(), status="reserved"))
    return {"reservation": order_id, "replayed": False}


def _items(row: Any) -> dict[str, int]:
    data: dict[str, int] = orjson.loads(row.items)
    return data


def release(conn: Connection, order_id: str) -> dict[str, Any]:
    """Return a reservation's items to stock (no-op if released; tombstone if unknown)."""
    row = conn.execute(sa.select(reservations).where(reservations.c.order_id == order_id)
                       ).first()
    if row is None:
        conn.execute(reservations.insert().values(order_id=order_id, items="{}",
                                                  status="released"))
        return {"released": False}
    if row.status != "reserved":
        return {"released": False, "status": row.status}
    for sku, n in sorted(_items(row).items()):
        conn.execute(stock.update().where(stock.c.sku == sku)
                     .values(stock=stock.c.stock + n, reserved=stock.c.reserved - n))
    conn.execute(reservations.update().where(reservations.c.order_id == order_id)
                 .values(status="released"))
    return {"released": True}


def fulfil(conn: Connection, order_id: str) -> dict[str, Any]:
    """The parcel left: move the reservation's items from reserved to shipped."""
    row = conn.execute(sa.select(reservations).where(reservations.c.order_id == order_id)
                       ).first()
    if row is None or row.status == "released":
        raise NonRetryableError(f"order {order_id} has no reservation to fulfil")
    if row.status == "shipped":
        return {"fulfilled": True, "replayed": True}
    for sku, n in sorted(_items(row).items()):
        conn.execute(stock.update().where(stock.c.sku == sku)
                     .values(reserved=stock.c.reserved - n, shipped=stock.c.shipped + n))
    conn.execute(reservations.update().where(reservations.c.order_id == order_id)
                 .values(status="shipped"))
    return {"fulfilled": True, "replayed": False}


def levels(conn: Connection) -> dict[str, tuple[int, int, int]]:
    """sku -> (stock, reserved, shipped)."""
    return {r.sku: (r.stock, r.reserved, r.shipped) for r in conn.execute(sa.select(stock))}
