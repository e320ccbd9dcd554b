"""Every flow store upgrades from the previous release's schema to head, keeping its rows:
the orchestrator's tables, the outbox, and each checkout service's database."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from tests.support.migrations import differences, previous_release

from bazaar import storage
from bazaar.flow.checkout import fulfilment, inventory, payments
from bazaar.flow.checkout.services import Databases, Services, migrations
from bazaar.flow.choreography import outbox
from bazaar.flow.orchestrator import store as orchestrator_store
from bazaar.flow.orchestrator.store import Store

SERVICE_TABLES = {
    "inventory": (inventory.metadata, "inventory_stock",
                  {"sku": "S-1", "stock": 5, "reserved": 1, "shipped": 0}),
    "payments": (payments.metadata, "payments",
                 {"order_id": "o1", "amount_cents": 100, "status": "charged"}),
    "provider": (payments.provider_metadata, "provider_ledger",
                 {"key": "k", "charge_id": "c", "amount_cents": 100, "status": "charged",
                  "at": 1.0}),
    "shipping": (fulfilment.shipping_metadata, "shipments",
                 {"order_id": "o1", "shipment_id": "s", "at": 1.0}),
    "notifications": (fulfilment.notify_metadata, "notifications", {"order_id": "o1", "at": 1.0}),
    "orders": (fulfilment.orders_metadata, "checkout_orders",
               {"order_id": "o1", "status": "pending", "amount_cents": 100, "items": "{}",
                "created_at": 1.0}),
}
OUTBOX_ROW = {"event_id": "e1", "topic": "t", "key": "o1", "payload": b"x", "created_at": 1.0}


def _rows(engine: sa.Engine, table: str) -> list[dict[str, object]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {table}"))]


def _insert(engine: sa.Engine, table: str, row: dict[str, object]) -> None:
    with engine.begin() as conn:
        conn.execute(sa.table(table, *map(sa.column, row)).insert().values(**row))


def test_the_orchestrator_store_upgrades_keeping_its_executions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'flow.db'}"
    old = storage.make_engine(url)
    previous_release(old, orchestrator_store.MIGRATIONS)
    _insert(old, "flow_definitions", {"name": "checkout", "version": 1, "body": "{}",
                                      "created_at": 1.0})
    old.dispose()
    store = Store(url)
    store.create_schema()
    head = storage.migrate.head(orchestrator_store.MIGRATIONS)
    assert storage.migrate.current(store.engine, orchestrator_store.MIGRATIONS) == head
    assert _rows(store.engine, "flow_definitions") == [
        {"name": "checkout", "version": 1, "body": "{}", "created_at": 1.0}]
    assert differences(store.engine, orchestrator_store.MIGRATIONS,
                       orchestrator_store.metadata) == []
    store.create_schema()  # again: nothing to do, nothing lost
    assert len(_rows(store.engine, "flow_definitions")) == 1
    store.close()


def test_a_new_orchestrator_store_is_exactly_the_live_tables(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'new.db'}")
    store.create_schema()
    assert differences(store.engine, orchestrator_store.MIGRATIONS,
                       orchestrator_store.metadata) == []
    store.close()


def test_every_saga_service_database_upgrades_keeping_its_rows(tmp_path: Path) -> None:
    dbs = Databases.under(tmp_path / "saga")
    for service, (_, table, row) in SERVICE_TABLES.items():
        old = storage.make_engine(getattr(dbs, service))
        previous_release(old, migrations(service))
        previous_release(old, outbox.MIGRATIONS)
        _insert(old, table, row)
        _insert(old, "outbox", {**OUTBOX_ROW, "event_id": f"e-{service}"})
        old.dispose()
    services = Services.open(dbs)
    try:
        for service, (metadata, table, row) in SERVICE_TABLES.items():
            engine = storage.make_engine(getattr(dbs, service))
            for mig in (migrations(service), outbox.MIGRATIONS):
                assert storage.migrate.current(engine, mig) == storage.migrate.head(mig)
            assert [{k: r[k] for k in row} for r in _rows(engine, table)] == [row]
            assert [r["event_id"] for r in _rows(engine, "outbox")] == [f"e-{service}"]
            assert differences(engine, migrations(service), metadata) == []
            assert differences(engine, outbox.MIGRATIONS, outbox.metadata) == []
            engine.dispose()
    finally:
        services.close()


def test_a_new_saga_service_database_is_exactly_the_live_tables(tmp_path: Path) -> None:
    dbs = Databases.under(tmp_path / "saga")
    Services.open(dbs).close()
    for service, (metadata, _, _) in SERVICE_TABLES.items():
        engine = storage.make_engine(getattr(dbs, service))
        assert differences(engine, migrations(service), metadata) == []
        assert differences(engine, outbox.MIGRATIONS, outbox.metadata) == []
        engine.dispose()
