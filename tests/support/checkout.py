"""Shared set-up for the checkout saga tests: services on their own SQLite files."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bazaar.flow.checkout import inventory, orchestrated
from bazaar.flow.checkout.faults import Faults
from bazaar.flow.checkout.services import Databases, Services
from bazaar.flow.orchestrator import LocalWorker, Orchestrator, Store
from bazaar.shop.services import Shop

if TYPE_CHECKING:
    from starlette.testclient import TestClient

STOCK = {"mug": 40, "tee": 40, "cap": 10}


def open_services(tmp: Path, faults: Faults, stock: dict[str, int] | None = None) -> Services:
    services = Services.open(Databases.under(tmp / "services"), faults)
    with services.inventory.begin() as conn:
        inventory.add_stock(conn, stock or STOCK)
    return services


def random_orders(n: int, seed: int, stock: dict[str, int] | None = None
                  ) -> list[tuple[str, dict[str, int], int]]:
    rng = random.Random(seed)
    skus = list(stock or STOCK)
    out = []
    for i in range(n):
        items = {sku: rng.randint(1, 3) for sku in rng.sample(skus, rng.randint(1, 2))}
        out.append((f"order-{seed}-{i}", items, rng.randint(500, 5000)))
    return out


def orchestrated_run(tmp: Path, services: Services,
                     orders: list[tuple[str, dict[str, int], int]],
                     wrap: Any = None) -> Orchestrator:
    """Run the orchestrated saga for ``orders`` to the end, in process (real engine)."""
    store = Store(f"sqlite:///{tmp / 'flow.db'}")
    store.create_schema()
    engine = Orchestrator(store)
    for definition in orchestrated.DEFINITIONS:
        engine.register(definition)
    for order_id, items, amount in orders:
        services.orders.open(order_id, amount, orjson.dumps(items).decode())
        engine.start("checkout", {"order_id": order_id, "items": items,
                                  "amount_cents": amount}, idempotency_key=order_id)
    handlers = orchestrated.handlers(services)
    if wrap is not None:
        handlers = {name: wrap(h) for name, h in handlers.items()}
    worker = LocalWorker(engine, handlers)

    def done() -> bool:
        return all(o["status"] != "pending" for o in services.orders.all())

    asyncio.run(asyncio.wait_for(worker.run_until(done), timeout=240))
    return engine


def make_shop(tmp: Path) -> Shop:
    """The production shop wiring on a migrated SQLite file in ``tmp`` (cheap argon2id)."""
    from tests.support.shop import sqlite_shop

    return sqlite_shop(tmp / "shop.db")


@dataclass
class Caller:
    """A signed-in customer, as the API's identity seam hands it on."""

    id: str
    kind: str = "user"
    scopes: set[str] = field(default_factory=lambda: {"shop:read", "shop:write"})


def client_for(shop: Shop, starter: Any, uid: int) -> TestClient:
    """The shop's API with its checkout routes, in process, as customer ``uid``."""
    from starlette.testclient import TestClient

    from bazaar.api import create_app
    from bazaar.api.checkout import CheckoutRoutes
    from bazaar.api.principal import SCOPE_KEY

    def identity(app: Any) -> Any:
        async def wrapped(scope: Any, receive: Any, send: Any) -> None:
            scope[SCOPE_KEY] = Caller(str(uid))
            await app(scope, receive, send)
        return wrapped

    app = create_app(shop, identity=identity, health=lambda: None,
                     extra=CheckoutRoutes(shop, starter).operations())
    return TestClient(app, raise_server_exceptions=False)
