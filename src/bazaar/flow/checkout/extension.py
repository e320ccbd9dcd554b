"""Adding a step to the checkout — a fraud check after the reservation — both ways, for real,
and the size of each change, counted.

Orchestration: one task in the definition and one new worker; no existing service changes.
Choreography: a new service reacting to InventoryReserved, *and* the payment service must
now wait for FraudCleared instead, *and* inventory must release on FraudRejected.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import json
import textwrap
from pathlib import Path
from typing import Any

from bazaar.flow.checkout import events as ev
from bazaar.flow.checkout import inventory, orchestrated
from bazaar.flow.checkout.choreographed import Choreography
from bazaar.flow.checkout.events import Event, emit
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Databases, Services
from bazaar.flow.choreography.outbox import install as install_outbox
from bazaar.flow.choreography.outbox import seen
from bazaar.flow.errors import NonRetryableError
from bazaar.flow.orchestrator.client import Task
from bazaar.flow.orchestrator.store import Store

LIMIT_CENTS = 5000
FRAUD_CLEARED, FRAUD_REJECTED = "FraudCleared", "FraudRejected"


# --- orchestration: the definition gains a task; a new worker serves it -----------------------
def with_fraud_check(definition: dict[str, Any]) -> dict[str, Any]:
    tasks = list(definition["tasks"])
    at = [t["ref"] for t in tasks].index("reserve") + 1
    tasks.insert(at, {"ref": "fraud", "name": "check_fraud",
                      "input": {"order_id": "${workflow.input.order_id}",
                                "amount_cents": "${workflow.input.amount_cents}"}})
    return {**definition, "version": 2, "tasks": tasks}


async def check_fraud(task: Task) -> dict[str, Any]:
    if int(task.input["amount_cents"]) > LIMIT_CENTS:
        raise NonRetryableError(f"fraud check: {task.input['amount_cents']} over the limit")
    return {"score": 0.1}


# --- choreography: a new reaction, and two existing services change -----------------------------
class FraudChoreography(Choreography):
    """The saga with a fraud service between inventory and payment."""

    def __init__(self, services: Services, fraud_store: Store, **kw: Any) -> None:
        super().__init__(services, **kw)
        self.fraud_store = fraud_store
        install_outbox(fraud_store)
        self.reactions["fraud"] = self.fraud

    def store(self, role: str) -> Store:
        return self.fraud_store if role == "fraud" else super().store(role)

    async def fraud(self, event: Event) -> None:
        if event.type != ev.INVENTORY_RESERVED:
            return
        with self.fraud_store.begin() as conn:
            if seen(conn, "fraud", event.event_id):
                return
            if int(event.data["amount_cents"]) > LIMIT_CENTS:
                emit(conn, event.follow(FRAUD_REJECTED, "fraud", reason="fraud check: over "
                                        "the limit"))
            else:
                emit(conn, event.follow(FRAUD_CLEARED, "fraud"))

    async def payment(self, event: Event) -> None:
        if event.type == ev.INVENTORY_RESERVED:  # changed: payment now waits for fraud
            return
        if event.type == FRAUD_CLEARED:
            event = Event(ev.INVENTORY_RESERVED, event.order_id, event.data, event.source,
                          event.cause, event.event_id, event.at)
        await super().payment(event)

    async def inventory(self, event: Event) -> None:
        if event.type == FRAUD_REJECTED:  # changed: a new failure to compensate
            event = Event(ev.PAYMENT_FAILED, event.order_id, event.data, event.source,
                          event.cause, event.event_id, event.at)
        await super().inventory(event)


def _lines(source: str) -> int:
    return sum(1 for line in textwrap.dedent(source).splitlines()
               if line.strip() and not line.strip().startswith("#"))


def _diff(a: str, b: str) -> int:
    return sum(1 for line in difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="")
               if line[:1] in "+-" and line[:3] not in ("+++", "---") and line[1:].strip())


def diff_counts() -> dict[str, dict[str, int]]:
    """Lines added or changed each way, and how many existing services had to change."""
    base = json.dumps(orchestrated.CHECKOUT, indent=2)
    extended = json.dumps(with_fraud_check(orchestrated.CHECKOUT), indent=2)
    orch = _diff(base, extended) + _lines(inspect.getsource(check_fraud))
    chor = (_lines(inspect.getsource(FraudChoreography.fraud))
            + _lines(inspect.getsource(FraudChoreography.payment))
            + _lines(inspect.getsource(FraudChoreography.inventory))
            + _lines(inspect.getsource(FraudChoreography.__init__)) + 2)  # + 2 event names
    return {"orchestration": {"lines": orch, "services_changed": 0, "services_added": 1},
            "choreography": {"lines": chor, "services_changed": 2, "services_added": 1}}


async def prove(work: Path, bootstrap: str | None) -> dict[str, dict[str, str]]:
    """Run both extended sagas on a cheap and an expensive order; return the outcomes."""
    from bazaar.flow.orchestrator import LocalWorker, Orchestrator

    outcomes: dict[str, dict[str, str]] = {}
    orders = {"cheap": ({"mug": 1}, 1000), "dear": ({"mug": 1}, 9000)}
    services = Services.open(Databases.under(work / "orch"), Faults())
    with services.inventory.begin() as conn:
        inventory.add_stock(conn, {"mug": 10})
    flow = Store(f"sqlite:///{work / 'orch-flow.db'}")
    flow.create_schema()
    engine = Orchestrator(flow)
    engine.register(orchestrated.CHECKOUT_FAILED)
    engine.register(with_fraud_check(orchestrated.CHECKOUT))
    for order_id, (items, amount) in orders.items():
        await orchestrated.start_checkout_local(engine, services, order_id, items, amount)
    handlers = {**orchestrated.handlers(services), "check_fraud": check_fraud}
    worker = LocalWorker(engine, handlers)
    await worker.run_until(lambda: all(o["status"] != "pending" for o in services.orders.all()))
    outcomes["orchestration"] = {o["order_id"]: o["status"] for o in services.orders.all()}
    services.close()
    if bootstrap is not None:
        from bazaar.flow.checkout.choreographed import place_order, run_services

        services = Services.open(Databases.under(work / "chor"), Faults())
        with services.inventory.begin() as conn:
            inventory.add_stock(conn, {"mug": 10})
        saga = FraudChoreography(services, Store(f"sqlite:///{work / 'fraud.db'}"))
        stop = asyncio.Event()
        runner = asyncio.create_task(run_services(
            bootstrap, services, ["inventory", "payment", "shipping", "notification",
                                  "orders", "fraud"], stop=stop, saga=saga,
            group_prefix="fraud"))
        for order_id, (items, amount) in orders.items():
            place_order(services, order_id, items, amount)
        for _ in range(1200):
            if all(o["status"] != "pending" for o in services.orders.all()):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await runner
        outcomes["choreography"] = {o["order_id"]: o["status"] for o in services.orders.all()}
        services.close()
    return outcomes
