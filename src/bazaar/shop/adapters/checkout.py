"""The checkout saga's adapters: start it on ``bazaar.flow``'s orchestrator or as
choreography, and serve its inventory steps from the shop's own services."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from bazaar.flow import NonRetryableError
from bazaar.flow.checkout.services import Databases, Services
from bazaar.flow.choreography import Choreography, emit, seen
from bazaar.flow.choreography import events as ev
from bazaar.flow.choreography.events import Event
from bazaar.flow.orchestrator import Task
from bazaar.shop.domain import NotFound, StateConflict, Unavailable
from bazaar.shop.services import checkout
from bazaar.shop.services.shop import Shop

Handler = Callable[[Task], Awaitable[dict[str, Any]]]


def saga_order_id(order_id: int) -> str:
    return f"shop-{order_id}"


class OrchestratedCheckout:
    """Opens the saga's order record, then starts the ``checkout`` workflow over HTTP
    (idempotency key: the order)."""

    mode = "orchestration"

    def __init__(self, flow_url: str, saga: Services, timeout_s: float = 10.0) -> None:
        self.flow_url = flow_url.rstrip("/")
        self.saga = saga
        self.http = httpx.Client(timeout=timeout_s)
        self._registered = False

    def _register(self) -> None:
        from bazaar.flow.checkout.orchestrated import DEFINITIONS

        for definition in DEFINITIONS:  # idempotent: same body, same version
            self.http.post(f"{self.flow_url}/api/definitions", json=definition
                           ).raise_for_status()
        self._registered = True

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        sid = saga_order_id(order_id)
        self.saga.orders.open(sid, amount_cents, orjson.dumps(items).decode())
        try:
            if not self._registered:
                self._register()
            response = self.http.post(f"{self.flow_url}/api/workflows/checkout/start", json={
                "input": {"order_id": sid, "items": items, "amount_cents": amount_cents},
                "idempotency_key": f"checkout:{sid}"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise Unavailable(f"the orchestrator at {self.flow_url}: {exc}") from exc
        return str(response.json()["id"])

    def status(self, order_id: int) -> tuple[str, str | None] | None:
        return saga_status(self.saga, order_id)


class ChoreographedCheckout:
    """Records the saga's order and its OrderPlaced event in one transaction (outbox)."""

    mode = "choreography"

    def __init__(self, saga: Services) -> None:
        self.saga = saga

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        from bazaar.flow.choreography import place_order

        sid = saga_order_id(order_id)
        place_order(self.saga, sid, items, amount_cents)
        return sid

    def status(self, order_id: int) -> tuple[str, str | None] | None:
        return saga_status(self.saga, order_id)


class LazyCheckout:
    """Opens the saga's databases and picks the way on the first checkout, not at start-up."""

    def __init__(self, mode: str, flow_url: str, saga_dir: Path) -> None:
        self.mode, self.flow_url, self.saga_dir = mode, flow_url, saga_dir
        self._starter: OrchestratedCheckout | ChoreographedCheckout | None = None

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        if self._starter is None:
            self._starter_for_reads()
        assert self._starter is not None
        return self._starter.start(order_id, items, amount_cents)

    def status(self, order_id: int) -> tuple[str, str | None] | None:
        if self._starter is None:
            self._starter_for_reads()
        assert self._starter is not None
        return saga_status(self._starter.saga, order_id)

    def _starter_for_reads(self) -> None:
        saga = Services.open(Databases.under(self.saga_dir))
        self._starter = (OrchestratedCheckout(self.flow_url, saga)
                         if self.mode == "orchestration" else ChoreographedCheckout(saga))


def saga_status(saga: Services, order_id: int) -> tuple[str, str | None] | None:
    """The saga's order record for a shop order: (status, reason), or None."""
    found = saga.orders.get(saga_order_id(order_id))
    return None if found is None else (str(found["status"]), found["reason"])


def _shop_order(task: Task) -> int:
    return int(str(task.input["order_id"]).removeprefix("shop-"))


def inventory_handlers(shop: Shop) -> dict[str, Handler]:
    """Worker handlers for the saga's inventory tasks, on the shop's stock."""
    def step(fn: Callable[[Shop, int], dict[str, Any]]) -> Handler:
        async def handle(task: Task) -> dict[str, Any]:
            try:
                return fn(shop, _shop_order(task))
            except (NotFound, StateConflict) as exc:
                raise NonRetryableError(str(exc)) from exc

        return handle

    return {"reserve_inventory": step(checkout.reserve_stock),
            "release_inventory": step(checkout.release_stock),
            "fulfil_inventory": step(checkout.fulfil_stock)}


class ShopInventoryChoreography(Choreography):
    """The choreographed saga with the shop as its inventory service: it reacts to
    OrderPlaced (the order holds its stock), ShipmentCreated (the order is fulfilled) and
    PaymentFailed / PaymentRefunded (cancel the order, returning its stock), deduplicated
    through the saga's inventory outbox database."""

    def __init__(self, services: Services, shop: Shop) -> None:
        super().__init__(services)
        self.shop = shop

    async def inventory(self, event: Event) -> None:
        if event.type not in (ev.ORDER_PLACED, ev.PAYMENT_FAILED, ev.PAYMENT_REFUNDED,
                              ev.SHIPMENT_CREATED):
            return
        order_id = int(event.order_id.removeprefix("shop-"))
        with self.s.inventory.begin() as conn:
            if seen(conn, "inventory", event.event_id):
                return
            if event.type == ev.SHIPMENT_CREATED:
                with contextlib.suppress(NotFound, StateConflict):  # cancelled meanwhile
                    checkout.fulfil_stock(self.shop, order_id)
                    emit(conn, event.follow(ev.INVENTORY_FULFILLED, "inventory"))
                return
            if event.type != ev.ORDER_PLACED:
                checkout.release_stock(self.shop, order_id)
                emit(conn, event.follow(ev.INVENTORY_RELEASED, "inventory"))
                return
            try:
                checkout.reserve_stock(self.shop, order_id)
            except (NotFound, StateConflict) as exc:
                emit(conn, event.follow(ev.INVENTORY_REJECTED, "inventory", reason=str(exc)))
            else:
                emit(conn, event.follow(ev.INVENTORY_RESERVED, "inventory"))
