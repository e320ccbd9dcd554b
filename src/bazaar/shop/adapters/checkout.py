"""The shop's side of the checkout saga, over the saga's own protocols only: the
orchestrator's HTTP API (start a workflow; serve the shop's tasks as a worker) or the
choreography's events (announce ``OrderPlaced`` through an outbox; react to the saga's
events). The shop's order is the one order record the saga moves: the shop serves the
saga's inventory steps and its close step (``bazaar.shop.services.checkout``)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa

from bazaar.flow import NonRetryableError
from bazaar.flow.checkout import events as ev
from bazaar.flow.checkout.events import Event, emit
from bazaar.flow.checkout.orchestrated import DEFINITIONS
from bazaar.flow.choreography import outbox, seen
from bazaar.flow.orchestrator import Store, Task
from bazaar.shop.domain import NotFound, StateConflict, Unavailable
from bazaar.shop.services import checkout
from bazaar.shop.services.checkout import CheckoutNotStarted
from bazaar.shop.services.shop import Shop

Handler = Callable[[Task], Awaitable[dict[str, Any]]]
#: The saga's tasks the shop serves (the rest are bazaar.flow.checkout's services).
SHOP_TASKS = ("reserve_inventory", "release_inventory", "fulfil_inventory", "close_order")
#: The choreography roles the shop plays.
SHOP_ROLES = ("inventory", "orders")


def saga_order_id(order_id: int) -> str:
    """The saga's id for a shop order: the order id itself (``bazaar flow trace 5``)."""
    return str(order_id)


def shop_order_id(saga_id: str) -> int:
    return int(saga_id)


class OrchestratedCheckout:
    """Starts the ``checkout`` workflow over HTTP (idempotency key: the order)."""

    mode = "orchestration"

    def __init__(self, flow_url: str, timeout_s: float = 10.0) -> None:
        self.flow_url = flow_url.rstrip("/")
        self.http = httpx.Client(timeout=timeout_s)
        self._registered = False

    def _register(self) -> None:
        for definition in DEFINITIONS:  # idempotent: same body, same version
            self.http.post(f"{self.flow_url}/api/definitions", json=definition
                           ).raise_for_status()
        self._registered = True

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        sid = saga_order_id(order_id)
        try:
            if not self._registered:
                self._register()
            response = self.http.post(f"{self.flow_url}/api/workflows/checkout/start", json={
                "input": {"order_id": sid, "items": items, "amount_cents": amount_cents},
                "idempotency_key": f"checkout:{sid}"})
            response.raise_for_status()
        except httpx.ConnectError as exc:  # refused / unreachable: nothing was sent
            raise CheckoutNotStarted(f"the orchestrator at {self.flow_url} is unreachable "
                                     f"({exc})") from exc
        except httpx.HTTPError as exc:  # sent, fate unknown: the order stays checking out
            raise Unavailable(f"the orchestrator at {self.flow_url}: {exc}; the checkout "
                              "may have started, POST it again to find out") from exc
        return str(response.json()["id"])


def announced_event_id(order_id: str) -> str:
    """OrderPlaced's id for a shop order: one per order, so announcing twice is a no-op."""
    return f"placed-{order_id}"


class ChoreographedCheckout:
    """Announces ``OrderPlaced`` through the shop's checkout outbox (relayed to the log by
    the shop's saga worker, ``bazaar.bootstrap.serve_checkout``)."""

    mode = "choreography"

    def __init__(self, outbox_store: Store) -> None:
        self.store = outbox_store
        outbox.install(outbox_store)

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        sid = saga_order_id(order_id)
        event_id = announced_event_id(sid)
        try:
            with self.store.begin() as conn:
                if conn.execute(sa.select(outbox.outbox.c.seq).where(
                        outbox.outbox.c.event_id == event_id)).first() is None:
                    emit(conn, Event(ev.ORDER_PLACED, sid, {"items": items,
                                                            "amount_cents": amount_cents},
                                     source="orders", event_id=event_id))
        except sa.exc.SQLAlchemyError as exc:  # rolled back: nothing was announced
            raise CheckoutNotStarted(f"the checkout outbox: {exc}") from exc
        return sid


def inventory_handlers(shop: Shop) -> dict[str, Handler]:
    """Worker handlers for the saga tasks the shop serves (:data:`SHOP_TASKS`)."""
    def step(fn: Callable[[Task], dict[str, Any]]) -> Handler:
        async def handle(task: Task) -> dict[str, Any]:
            try:
                return fn(task)
            except (NotFound, StateConflict) as exc:
                raise NonRetryableError(str(exc)) from exc

        return handle

    def order(task: Task) -> int:
        return shop_order_id(str(task.input["order_id"]))

    return {
        "reserve_inventory": step(lambda t: checkout.reserve_stock(shop, order(t))),
        "release_inventory": step(lambda t: checkout.release_stock(shop, order(t))),
        "fulfil_inventory": step(lambda t: checkout.fulfil_stock(shop, order(t))),
        "close_order": step(lambda t: checkout.close_checkout(
            shop, order(t), str(t.input["status"]), t.input.get("reason"))),
    }


class ShopChoreography:
    """The shop's reactions in the choreographed saga, as its inventory and orders roles:
    OrderPlaced → take the order (InventoryReserved, or InventoryRejected if it is no longer
    being checked out), ShipmentCreated → fulfilled, PaymentFailed / PaymentRefunded →
    cancelled with its stock returned; CustomerNotified → completed, InventoryRejected /
    InventoryReleased → failed with the reason. Each shop change is idempotent; the event's
    dedupe and the outgoing event share one transaction in the role's outbox database."""

    def __init__(self, shop: Shop, stores: dict[str, Store]) -> None:
        self.shop = shop
        self.stores = stores
        for store in stores.values():
            outbox.install(store)
        self.reactions = {"inventory": self.inventory, "orders": self.orders}

    def store(self, role: str) -> Store:
        return self.stores[role]

    async def inventory(self, event: Event) -> None:
        if event.type not in (ev.ORDER_PLACED, ev.PAYMENT_FAILED, ev.PAYMENT_REFUNDED,
                              ev.SHIPMENT_CREATED):
            return
        order_id = shop_order_id(event.order_id)
        with self.stores["inventory"].begin() as conn:
            if seen(conn, "inventory", event.event_id):
                return
            if event.type == ev.SHIPMENT_CREATED:
                checkout.fulfil_stock(self.shop, order_id)
                emit(conn, event.follow(ev.INVENTORY_FULFILLED, "inventory"))
            elif event.type != ev.ORDER_PLACED:
                checkout.release_stock(self.shop, order_id)
                emit(conn, event.follow(ev.INVENTORY_RELEASED, "inventory"))
            else:
                try:
                    checkout.reserve_stock(self.shop, order_id)
                except (NotFound, StateConflict) as exc:
                    emit(conn, event.follow(ev.INVENTORY_REJECTED, "inventory",
                                            reason=str(exc)))
                else:
                    emit(conn, event.follow(ev.INVENTORY_RESERVED, "inventory"))

    async def orders(self, event: Event) -> None:
        if event.type not in (ev.CUSTOMER_NOTIFIED, ev.INVENTORY_REJECTED,
                              ev.INVENTORY_RELEASED):
            return
        order_id = shop_order_id(event.order_id)
        with self.stores["orders"].begin() as conn:
            if seen(conn, "orders", event.event_id):
                return
            if event.type == ev.CUSTOMER_NOTIFIED:
                checkout.close_checkout(self.shop, order_id, "completed")
                emit(conn, event.follow(ev.ORDER_COMPLETED, "orders"))
            else:
                reason = str(event.data.get("reason") or event.type)
                with contextlib.suppress(NotFound):
                    checkout.close_checkout(self.shop, order_id, "failed", reason)
                emit(conn, event.follow(ev.ORDER_FAILED, "orders"))
