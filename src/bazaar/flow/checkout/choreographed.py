"""The checkout saga, choreographed: what each service does when it sees an event.

Each reaction is one local transaction: dedupe the incoming event id, change the service's
own state, write the outgoing event to the outbox. Calls to the outside (the payment
provider) happen before it and are idempotent by key, so a redelivered event is harmless.
Nobody knows the whole saga: compensation is just more reactions (PaymentFailed → release).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from bazaar.flow.checkout import events as ev
from bazaar.flow.checkout import inventory
from bazaar.flow.checkout.events import TOPIC, Event, emit
from bazaar.flow.checkout.fulfilment import CarrierBusy, MailerBusy, NoCarrier
from bazaar.flow.checkout.payments import PaymentDeclined, ProviderTimeout
from bazaar.flow.choreography import Reaction, run_roles
from bazaar.flow.choreography.outbox import processed, seen
from bazaar.flow.orchestrator.store import Store

if TYPE_CHECKING:
    from bazaar.flow.checkout.services import Services

ROLES = ("inventory", "payment", "shipping", "notification", "orders")


def place_order(services: Services, order_id: str, items: dict[str, int],
                amount_cents: int) -> bool:
    """The order service: record the order and OrderPlaced in one transaction (idempotent)."""
    with services.orders.store.begin() as conn:
        opened = services.orders.open(order_id, amount_cents, orjson.dumps(items).decode(),
                                      conn)
        if opened:
            emit(conn, Event(ev.ORDER_PLACED, order_id, {"items": items,
                                                         "amount_cents": amount_cents},
                             source="orders"))
    return opened


class Choreography:
    """Reactions per role. ``attempts`` bounds in-service retries of transient errors
    (notifications retry until done)."""

    def __init__(self, services: Services, *, attempts: int = 4, backoff_s: float = 0.05
                 ) -> None:
        self.s = services
        self.attempts, self.backoff_s = attempts, backoff_s
        self.reactions: dict[str, Reaction] = {
            "inventory": self.inventory, "payment": self.payment, "shipping": self.shipping,
            "notification": self.notification, "orders": self.orders}

    def store(self, role: str) -> Store:
        """The database of the service playing ``role``."""
        return {"inventory": self.s.inventory, "payment": self.s.payments.store,
                "shipping": self.s.shipping.store, "notification": self.s.notifications.store,
                "orders": self.s.orders.store}[role]

    def _already(self, store: Store, role: str, event: Event) -> bool:
        with store.read() as conn:
            return conn.execute(processed.select().where(
                processed.c.consumer == role, processed.c.event_id == event.event_id)
            ).first() is not None

    async def inventory(self, event: Event) -> None:
        if event.type not in (ev.ORDER_PLACED, ev.PAYMENT_FAILED, ev.PAYMENT_REFUNDED,
                              ev.SHIPMENT_CREATED):
            return
        with self.s.inventory.begin() as conn:
            if seen(conn, "inventory", event.event_id):
                return
            if event.type == ev.ORDER_PLACED:
                try:
                    with conn.begin_nested():  # all lines or none
                        inventory.reserve(conn, event.order_id, event.data["items"])
                    emit(conn, event.follow(ev.INVENTORY_RESERVED, "inventory"))
                except inventory.OutOfStock as exc:
                    emit(conn, event.follow(ev.INVENTORY_REJECTED, "inventory",
                                            reason=str(exc)))
            elif event.type == ev.SHIPMENT_CREATED:
                inventory.fulfil(conn, event.order_id)
                emit(conn, event.follow(ev.INVENTORY_FULFILLED, "inventory"))
            else:
                inventory.release(conn, event.order_id)
                emit(conn, event.follow(ev.INVENTORY_RELEASED, "inventory"))

    async def _retrying(self, call: Callable[[], Awaitable[Any]],
                        transient: tuple[type[BaseException], ...],
                        attempts: int | None) -> Any:
        n = 0
        while True:
            n += 1
            try:
                return await call()
            except transient:
                if attempts is not None and n >= attempts:
                    raise
                await asyncio.sleep(self.backoff_s * min(2 ** n, 20))

    async def payment(self, event: Event) -> None:
        store = self.s.payments.store
        if event.type not in (ev.INVENTORY_RESERVED, ev.SHIPMENT_FAILED) or \
                self._already(store, "payment", event):
            return
        if event.type == ev.SHIPMENT_FAILED:
            await self.s.payments.provider.refund(f"order:{event.order_id}")
            with store.begin() as conn:
                if not seen(conn, "payment", event.event_id):
                    self.s.payments.mark_refunded(conn, event.order_id)
                    emit(conn, event.follow(ev.PAYMENT_REFUNDED, "payment"))
            return
        order_id, amount = event.order_id, int(event.data["amount_cents"])
        try:
            charged = await self._retrying(lambda: self.s.payments.charge(order_id, amount),
                                           (ProviderTimeout,), self.attempts)
            follow = event.follow(ev.PAYMENT_CHARGED, "payment",
                                  charge_id=charged["charge_id"])
        except (PaymentDeclined, ProviderTimeout) as exc:
            await self.s.payments.refund(order_id)  # void an uncertain (timed-out) charge
            follow = event.follow(ev.PAYMENT_FAILED, "payment", reason=str(exc))
        with store.begin() as conn:
            if not seen(conn, "payment", event.event_id):
                emit(conn, follow)

    async def shipping(self, event: Event) -> None:
        store = self.s.shipping.store
        if event.type != ev.PAYMENT_CHARGED or self._already(store, "shipping", event):
            return

        async def create() -> Any:
            with store.begin() as conn:
                if seen(conn, "shipping", event.event_id):
                    return None
                made = self.s.shipping.create(event.order_id, conn)
                emit(conn, event.follow(ev.SHIPMENT_CREATED, "shipping",
                                        shipment_id=made["shipment_id"]))
            return made

        try:
            await self._retrying(create, (CarrierBusy,), self.attempts)
        except (NoCarrier, CarrierBusy) as exc:
            with store.begin() as conn:
                if not seen(conn, "shipping", event.event_id):
                    emit(conn, event.follow(ev.SHIPMENT_FAILED, "shipping", reason=str(exc)))

    async def notification(self, event: Event) -> None:
        store = self.s.notifications.store
        if event.type != ev.SHIPMENT_CREATED:
            return

        async def notify() -> None:
            with store.begin() as conn:
                if seen(conn, "notification", event.event_id):
                    return
                self.s.notifications.notify(event.order_id, conn)
                emit(conn, event.follow(ev.CUSTOMER_NOTIFIED, "notification"))

        await self._retrying(notify, (MailerBusy,), None)

    async def orders(self, event: Event) -> None:
        if event.type not in (ev.CUSTOMER_NOTIFIED, ev.INVENTORY_REJECTED,
                              ev.INVENTORY_RELEASED):
            return
        with self.s.orders.store.begin() as conn:
            if seen(conn, "orders", event.event_id):
                return
            if event.type == ev.CUSTOMER_NOTIFIED:
                if self.s.orders.close(event.order_id, "completed", None, conn):
                    emit(conn, event.follow(ev.ORDER_COMPLETED, "orders"))
            else:
                reason = str(event.data.get("reason") or event.type)
                if self.s.orders.close(event.order_id, "failed", reason, conn):
                    emit(conn, event.follow(ev.ORDER_FAILED, "orders"))


async def run_services(bootstrap: str, services: Services, roles: Iterable[str], *,
                       stop: asyncio.Event | None = None, group_prefix: str = "checkout",
                       saga: Choreography | None = None) -> None:
    """Serve the checkout saga's ``roles`` on the log until ``stop`` is set."""
    await run_roles(bootstrap, saga or Choreography(services), roles, topic=TOPIC,
                    group_prefix=group_prefix, stop=stop)
