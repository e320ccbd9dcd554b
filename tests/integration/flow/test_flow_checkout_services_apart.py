"""The saga's services can run on other machines: payment, shipping and notification each
run as their own process on a data directory of their own, the shop's checkout worker on
the shop's, and they meet only through the orchestrator's HTTP API or the log. A checkout
through the shop's API completes, with the money in the payment service's books and the
parcel in the shipping service's — nothing shared but the wire."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from tests.support.checkout import client_for, make_shop
from tests.support.orchestrator import OrchestratorProcess

from bazaar import bootstrap
from bazaar.broker import run_subprocess
from bazaar.config import Settings
from bazaar.flow.checkout.orchestrated import DEFINITIONS
from bazaar.flow.checkout.services import Databases, Services
from bazaar.processes import Child, eventually
from bazaar.shop.domain import LineRequest
from bazaar.shop.services import catalog, orders, users

SAGA_ROLES = ("payment", "shipping", "notification")


@contextmanager
def running(children: list[Child]) -> Iterator[None]:
    with ExitStack() as stack:
        for child in children:
            child.start()
            stack.callback(child.stop)
        yield


@pytest.mark.parametrize("mode", ["orchestration", "choreography"])
def test_the_sagas_services_run_apart_on_their_own_data_dirs(tmp_path: Path,
                                                              mode: str) -> None:
    shop_dir = tmp_path / "shop-machine"
    shop_dir.mkdir()
    with ExitStack() as stack:
        if mode == "orchestration":
            node = stack.enter_context(OrchestratorProcess(tmp_path / "flow-machine.db"))
            node.register(DEFINITIONS)
            wire = ["orchestrated", "--flow-url", node.url]
            env = {"BAZAAR_FLOW_URL": node.url}
        else:
            broker = stack.enter_context(run_subprocess(tmp_path / "broker-machine"))
            wire = ["choreography", "--bootstrap", broker.bootstrap]
            env = {"BAZAAR_KAFKA_BOOTSTRAP": broker.bootstrap}
        env.update({"BAZAAR_CHECKOUT": mode, "BAZAAR_DATA_DIR": str(shop_dir),
                    "BAZAAR_DATABASE_URL": f"sqlite:///{shop_dir / 'shop.db'}"})
        settings = Settings(data_dir=shop_dir, database_url=env["BAZAAR_DATABASE_URL"],
                            checkout=mode, flow_url=env.get("BAZAAR_FLOW_URL",
                                                            "http://127.0.0.1:1"))
        shop = make_shop(shop_dir)  # the shop's database, migrated
        uid = users.register(shop, "buyer", "", "correct horse battery").id
        pid = catalog.create_product(shop, "LAMP-1", "Lamp", 4900, 5).id
        order_id = orders.place_order(shop, uid, [LineRequest(pid, 2)]).order.id
        children = [Child([sys.executable, "-m", "bazaar.flow.checkout", *wire, "--role", role,
                           "--dir", str(tmp_path / f"{role}-machine")], name=f"saga-{role}",
                          log=tmp_path / f"{role}.log") for role in SAGA_ROLES]
        children.append(Child([sys.executable, "-m", "bazaar.cli", "flow", "shop-inventory"],
                              name="shop-checkout", env={**os.environ, **env},
                              log=tmp_path / "shop-checkout.log"))
        stack.enter_context(running(children))
        client = client_for(shop, bootstrap.checkout_starter(settings), uid)
        accepted = client.post(f"/orders/{order_id}/checkout")
        assert accepted.status_code == 202, accepted.text

        def ended() -> dict[str, object] | None:
            found: dict[str, object] = client.get(f"/orders/{order_id}/checkout").json()
            return None if found["status"] == "pending" else found

        state = eventually(ended, timeout=90, what="the checkout ends")
    assert state == {"order_id": order_id, "status": "completed", "reason": None}
    assert orders.get_order(shop, uid, order_id).status == "fulfilled"
    payment = Services.open(Databases.under(tmp_path / "payment-machine"))
    shipping = Services.open(Databases.under(tmp_path / "shipping-machine"))
    try:
        assert payment.provider.entries() == {f"order:{order_id}": ("charged", 9800)}
        assert shipping.shipping.shipped() == {str(order_id)}
        assert payment.shipping.shipped() == set() and shipping.provider.entries() == {}
    finally:
        payment.close()
        shipping.close()
    assert not (shop_dir / "saga").exists(), "the shop keeps none of the saga's databases"
