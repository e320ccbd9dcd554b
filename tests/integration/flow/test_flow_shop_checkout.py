"""POST /orders/{id}/checkout on the real shop: the saga's inventory steps are the shop's own
services (the order's stock; release = the shop's cancel), the rest are bazaar.flow's
services, orchestrated through a real orchestrator process or choreographed on the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from tests.support.checkout import client_for, make_shop, open_services
from tests.support.orchestrator import OrchestratorProcess
from typer.testing import CliRunner

from bazaar.broker import run_subprocess
from bazaar.commands import flow as flow_cli
from bazaar.flow.checkout import orchestrated
from bazaar.flow.checkout.choreographed import Choreography, run_services
from bazaar.flow.checkout.events import TOPIC
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Services
from bazaar.flow.choreography import run_roles
from bazaar.flow.orchestrator import FlowClient, Store, Worker
from bazaar.processes import free_port
from bazaar.shop.adapters.checkout import (
    SHOP_ROLES,
    SHOP_TASKS,
    ChoreographedCheckout,
    OrchestratedCheckout,
    ShopChoreography,
    inventory_handlers,
)
from bazaar.shop.domain import LineRequest
from bazaar.shop.services import Shop, catalog, orders, users


def stock(shop: Shop, pid: int) -> int:
    found = shop.queries.product(pid)
    assert found is not None
    return found.stock


def setup_order(shop: Shop) -> tuple[int, int, int]:
    uid = users.register(shop, "buyer", "", "correct horse battery").id
    pid = catalog.create_product(shop, "MUG-1", "Mug", 1250, 10).id
    order = orders.place_order(shop, uid, [LineRequest(pid, 2)]).order
    return uid, pid, order.id


def saga_handlers(saga: Services) -> dict[str, Any]:
    """The saga's own services (payment, shipping, notification); the shop serves the rest."""
    return {name: h for name, h in orchestrated.handlers(saga).items() if name not in SHOP_TASKS}


def checkout_of(client: TestClient, order_id: int) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/orders/{order_id}/checkout").json()
    return found


async def orchestrated_workers(url: str, shop: Shop, saga: Services, done: Any) -> None:
    worker = Worker(FlowClient(url), worker_id="t", poll_wait_s=0.5)
    table = {**saga_handlers(saga), **inventory_handlers(shop)}
    for name, handler in table.items():
        worker.add(name, handler)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    for _ in range(1200):
        if done():
            break
        await asyncio.sleep(0.05)
    stop.set()
    await running


@pytest.mark.parametrize("declined", [False, True])
def test_orchestrated_checkout_through_the_api(tmp_path: Path, declined: bool) -> None:
    shop = make_shop(tmp_path)
    saga = open_services(tmp_path, Faults(decline_rate=1.0 if declined else 0.0))
    uid, pid, order_id = setup_order(shop)
    node = OrchestratorProcess(tmp_path / "flow.db").start()
    url = node.url
    try:
        node.register(orchestrated.DEFINITIONS)
        client = client_for(shop, OrchestratedCheckout(url), uid)
        assert checkout_of(client, order_id)["status"] == "not_started"
        assert client.get("/orders/999/checkout").status_code == 404
        response = client.post(f"/orders/{order_id}/checkout")
        assert response.status_code == 202, response.text
        assert response.json()["mode"] == "orchestration"
        again = client.post(f"/orders/{order_id}/checkout")  # idempotent per order
        assert again.json()["saga_id"] == response.json()["saga_id"]
        assert client.post("/orders/999/checkout").status_code == 404
        # The checkout owns the order now: the customer's cancel is refused, nothing moves.
        cancel = client.post(f"/orders/{order_id}/cancel")
        assert cancel.status_code == 409 and cancel.json()["reason"] == "checking_out"
        assert stock(shop, pid) == 8 and checkout_of(client, order_id)["status"] == "pending"

        def done() -> bool:
            return checkout_of(client, order_id)["status"] != "pending"

        asyncio.run(orchestrated_workers(url, shop, saga, done))
    finally:
        node.stop()
    assert saga.orders.all() == [], "the shop's order is the saga's only order record"
    shop_order = orders.get_order(shop, uid, order_id)
    state = checkout_of(client, order_id)
    if declined:
        assert state["status"] == "failed" and "declined" in state["reason"]
        assert shop_order.status == "cancelled" and stock(shop, pid) == 10
        assert saga.provider.charged() == {} and saga.shipping.shipped() == set()
        assert client.post(f"/orders/{order_id}/checkout").status_code == 409
    else:
        assert state == {"order_id": order_id, "status": "completed", "reason": None}
        assert shop_order.status == "fulfilled" and stock(shop, pid) == 8
        assert saga.provider.charged() == {f"order:{order_id}": 2500}
        # Shipped: the order can no longer be cancelled, its stock stays shipped.
        cancel = client.post(f"/orders/{order_id}/cancel")
        assert cancel.status_code == 409, cancel.text
        assert "fulfilled" in cancel.json()["detail"] and stock(shop, pid) == 8


def test_orchestrator_down_the_checkout_did_not_start_and_the_order_is_free(
        tmp_path: Path) -> None:
    shop = make_shop(tmp_path)
    uid, pid, order_id = setup_order(shop)
    client = client_for(shop, OrchestratedCheckout(f"http://127.0.0.1:{free_port()}"), uid)
    response = client.post(f"/orders/{order_id}/checkout")
    assert response.status_code == 503, response.text
    state = checkout_of(client, order_id)
    assert state["status"] == "not_started" and "unreachable" in state["reason"]
    assert orders.get_order(shop, uid, order_id).status == "placed"
    assert client.post(f"/orders/{order_id}/cancel").status_code == 200
    assert stock(shop, pid) == 10


def shop_stores(tmp: Path) -> dict[str, Store]:
    return {role: Store(f"sqlite:///{tmp / f'shop-{role}.db'}") for role in SHOP_ROLES}


def test_choreographed_checkout_through_the_api(tmp_path: Path) -> None:
    shop = make_shop(tmp_path)
    saga = open_services(tmp_path, Faults(ship_fail_rate=1.0))
    uid, pid, order_id = setup_order(shop)
    stores = shop_stores(tmp_path)
    client = client_for(shop, ChoreographedCheckout(stores["orders"]), uid)
    with run_subprocess(tmp_path / "broker") as broker:
        async def main() -> None:
            stop = asyncio.Event()
            services = asyncio.create_task(run_services(
                broker.bootstrap, saga, ("payment", "shipping", "notification"), stop=stop,
                saga=Choreography(saga)))
            the_shop = asyncio.create_task(run_roles(
                broker.bootstrap, ShopChoreography(shop, stores), SHOP_ROLES, topic=TOPIC,
                group_prefix="checkout", stop=stop))
            response = await asyncio.to_thread(client.post, f"/orders/{order_id}/checkout")
            assert response.status_code == 202 and response.json()["mode"] == "choreography"
            cancel = await asyncio.to_thread(client.post, f"/orders/{order_id}/cancel")
            assert cancel.status_code == 409 and cancel.json()["reason"] == "checking_out"
            for _ in range(1200):
                if checkout_of(client, order_id)["status"] != "pending":
                    break
                await asyncio.sleep(0.05)
            stop.set()
            await services
            await the_shop

        asyncio.run(main())
        # `bazaar flow trace 5` for the shop's order 5: the saga's id is the order's id
        traced = CliRunner().invoke(flow_cli.app, ["trace", str(order_id), "--bootstrap",
                                                   broker.bootstrap])
        assert traced.exit_code == 0, traced.output
        for event in ("OrderPlaced", "ShipmentFailed", "PaymentRefunded", "OrderFailed"):
            assert event in traced.output
    state = checkout_of(client, order_id)
    assert state["status"] == "failed" and "no carrier" in state["reason"]
    assert orders.get_order(shop, uid, order_id).status == "cancelled"
    assert stock(shop, pid) == 10 and saga.provider.charged() == {}
    assert saga.orders.all() == [], "the shop's order is the saga's only order record"
