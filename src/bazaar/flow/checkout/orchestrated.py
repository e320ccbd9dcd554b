"""The checkout saga as a workflow: its definition and the workers' handlers per service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from bazaar.flow.checkout import inventory
from bazaar.flow.checkout.services import Services
from bazaar.flow.orchestrator.client import FlowClient, Task
from bazaar.flow.orchestrator.engine import Orchestrator

Handler = Callable[[Task], Awaitable[dict[str, Any]]]
FAST = {"max_attempts": 4, "backoff": "jittered", "delay_s": 0.05, "max_delay_s": 1.0}
FOREVER = {"max_attempts": None, "backoff": "jittered", "delay_s": 0.05, "max_delay_s": 2.0}
ORDER = "${workflow.input.order_id}"

CHECKOUT: dict[str, Any] = {
    "name": "checkout",
    "description": "reserve → charge → ship (pivot) → fulfil → notify → close the order",
    "tasks": [
        {"ref": "reserve", "name": "reserve_inventory",
         "input": {"order_id": ORDER, "items": "${workflow.input.items}"}, "retry": FAST,
         "compensation": {"name": "release_inventory", "input": {"order_id": ORDER},
                          "retry": FOREVER}},
        {"ref": "charge", "name": "charge_payment",
         "input": {"order_id": ORDER, "amount_cents": "${workflow.input.amount_cents}"},
         "retry": FAST,
         "compensation": {"name": "refund_payment", "input": {"order_id": ORDER},
                          "retry": FOREVER, "on_failure": True}},
        {"ref": "ship", "name": "create_shipment", "input": {"order_id": ORDER},
         "retry": FAST},
        {"ref": "fulfil", "name": "fulfil_inventory", "input": {"order_id": ORDER},
         "retry": FOREVER},
        {"ref": "notify", "name": "notify_customer", "input": {"order_id": ORDER},
         "retry": FOREVER},
        {"ref": "close", "name": "close_order",
         "input": {"order_id": ORDER, "status": "completed"}, "retry": FOREVER},
    ],
    "output": {"shipment_id": "${ship.output.shipment_id}",
               "charge_id": "${charge.output.charge_id}"},
    "failure_workflow": "checkout_failed",
}
CHECKOUT_FAILED: dict[str, Any] = {
    "name": "checkout_failed",
    "description": "mark the order failed, with the reason",
    "tasks": [{"ref": "close", "name": "close_order", "retry": FOREVER,
               "input": {"order_id": "${workflow.input.input.order_id}", "status": "failed",
                         "reason": "${workflow.input.reason}"}}],
}
DEFINITIONS = (CHECKOUT_FAILED, CHECKOUT)

#: Which task names each service process serves.
ROLES: dict[str, tuple[str, ...]] = {
    "inventory": ("reserve_inventory", "release_inventory", "fulfil_inventory"),
    "payment": ("charge_payment", "refund_payment"),
    "shipping": ("create_shipment",),
    "notification": ("notify_customer",),
    "orders": ("close_order",),
}


def handlers(services: Services) -> dict[str, Handler]:
    """Task name → handler, over the services' own databases."""
    async def reserve(task: Task) -> dict[str, Any]:
        with services.inventory.begin() as conn:
            return inventory.reserve(conn, task.input["order_id"], task.input["items"])

    async def release(task: Task) -> dict[str, Any]:
        with services.inventory.begin() as conn:
            return inventory.release(conn, task.input["order_id"])

    async def fulfil(task: Task) -> dict[str, Any]:
        with services.inventory.begin() as conn:
            return inventory.fulfil(conn, task.input["order_id"])

    async def charge(task: Task) -> dict[str, Any]:
        return await services.payments.charge(task.input["order_id"],
                                              int(task.input["amount_cents"]))

    async def refund(task: Task) -> dict[str, Any]:
        return await services.payments.refund(task.input["order_id"])

    async def ship(task: Task) -> dict[str, Any]:
        return services.shipping.create(task.input["order_id"])

    async def notify(task: Task) -> dict[str, Any]:
        return services.notifications.notify(task.input["order_id"])

    async def close(task: Task) -> dict[str, Any]:
        closed = services.orders.close(task.input["order_id"], task.input["status"],
                                       task.input.get("reason"))
        return {"closed": closed}

    return {"reserve_inventory": reserve, "release_inventory": release,
            "fulfil_inventory": fulfil, "charge_payment": charge, "refund_payment": refund,
            "create_shipment": ship, "notify_customer": notify, "close_order": close}


async def register(client: FlowClient) -> None:
    for definition in DEFINITIONS:
        await client.register(definition)


async def start_checkout(client: FlowClient, services: Services, order_id: str,
                         items: dict[str, int], amount_cents: int) -> str:
    """Open the order and start its saga (both idempotent per order id)."""
    services.orders.open(order_id, amount_cents, orjson.dumps(items).decode())
    started = await client.start("checkout", {"order_id": order_id, "items": items,
                                              "amount_cents": amount_cents},
                                 idempotency_key=f"checkout:{order_id}")
    return str(started["id"])


async def start_checkout_local(engine: Orchestrator, services: Services, order_id: str,
                               items: dict[str, int], amount_cents: int) -> str:
    """:func:`start_checkout` against an in-process engine."""
    services.orders.open(order_id, amount_cents, orjson.dumps(items).decode())
    return engine.start("checkout", {"order_id": order_id, "items": items,
                                     "amount_cents": amount_cents},
                        idempotency_key=f"checkout:{order_id}").id
