"""Classical (imperative) mapping of the domain classes onto ``bazaar.shop.adapters.schema``.

The domain stays plain Python; SQLAlchemy instruments the classes here, once. Products,
room nights, orders and reservations carry a ``version`` column as SQLAlchemy's
``version_id_col``: every UPDATE says ``WHERE id = ? AND version = ?`` and bumps it, and a
row that changed underneath raises ``StaleDataError`` — the optimistic lock.
"""

from __future__ import annotations

import threading

from sqlalchemy.orm import registry, relationship

from bazaar.shop.adapters import schema
from bazaar.shop.domain import Order, OrderLine, Product, Reservation, Room, RoomNight

mapper_registry = registry(metadata=schema.metadata)
_lock = threading.Lock()
_started = False


def start_mappers() -> None:
    """Map the domain classes; safe to call more than once."""
    global _started
    with _lock:
        if _started:
            return
        p = schema.products
        mapper_registry.map_imperatively(Product, p, version_id_col=p.c.version)
        mapper_registry.map_imperatively(Room, schema.rooms)
        n = schema.room_nights
        mapper_registry.map_imperatively(RoomNight, n, version_id_col=n.c.version)
        mapper_registry.map_imperatively(OrderLine, schema.order_lines)
        o = schema.orders
        mapper_registry.map_imperatively(Order, o, version_id_col=o.c.version, properties={
            "lines": relationship(OrderLine, order_by=schema.order_lines.c.id,
                                  lazy="selectin"),
        })
        r = schema.reservations
        mapper_registry.map_imperatively(Reservation, r, version_id_col=r.c.version,
                                         exclude_properties=["created_at"])
        _started = True
