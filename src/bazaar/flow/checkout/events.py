"""The checkout saga's events on the log: one topic, keyed by order, and the names."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from bazaar.flow.choreography import outbox
from bazaar.flow.choreography.events import Event as Event

TOPIC = "checkout.events"

ORDER_PLACED = "OrderPlaced"
INVENTORY_RESERVED = "InventoryReserved"
INVENTORY_REJECTED = "InventoryRejected"
PAYMENT_CHARGED = "PaymentCharged"
PAYMENT_FAILED = "PaymentFailed"
SHIPMENT_CREATED = "ShipmentCreated"
SHIPMENT_FAILED = "ShipmentFailed"
INVENTORY_FULFILLED = "InventoryFulfilled"
CUSTOMER_NOTIFIED = "CustomerNotified"
PAYMENT_REFUNDED = "PaymentRefunded"
INVENTORY_RELEASED = "InventoryReleased"
ORDER_COMPLETED = "OrderCompleted"
ORDER_FAILED = "OrderFailed"


def emit(conn: Connection, event: Event) -> None:
    """Queue a checkout event for the log, inside the caller's transaction."""
    outbox.emit(conn, event, TOPIC)
