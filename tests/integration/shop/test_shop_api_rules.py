"""Owner and replay rules over HTTP, on the production wiring (``bootstrap.build``):
nobody cancels someone else's order or reservation, an ``Idempotency-Key`` belongs to
its user, and a conflict that outlives the retries is a 409 ``retry`` that wrote nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from starlette.testclient import TestClient

from bazaar import bootstrap
from bazaar.config import Settings
from bazaar.shop.adapters import schema
from bazaar.shop.services import ConflictRetry, catalog
from bazaar.storage import make_engine

from .conftest import fresh_pg_database

Headers = dict[str, str]
CHECK_IN = date(2032, 5, 1)


@pytest.fixture(params=["atomic", "optimistic"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[bootstrap.Runtime]:
    settings = Settings(data_dir=tmp_path, reservation_strategy=request.param,
                        seed_demo=False)
    runtime = bootstrap.build(settings)
    bootstrap.migrate_database(runtime)
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: bootstrap.Runtime) -> TestClient:
    return TestClient(bootstrap.build_app(runtime))


def _user(client: TestClient, name: str) -> Headers:
    assert client.post("/users", json={"username": name, "password": "correct horse"}
                       ).status_code == 201
    token = client.post("/auth/token", json={"username": name, "password": "correct horse"})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(table)) or 0)


def _stock(engine: Engine, product_id: int) -> int:
    with engine.connect() as conn:
        stock = conn.scalar(select(schema.products.c.stock)
                            .where(schema.products.c.id == product_id))
    assert stock is not None
    return int(stock)


def _reserved(engine: Engine, room_id: int) -> list[int]:
    n = schema.room_nights
    with engine.connect() as conn:
        return [int(r) for r in conn.scalars(select(n.c.reserved).where(n.c.room_id == room_id)
                                             .order_by(n.c.night))]


def _problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"].endswith(f"/{slug}"), body
    return body


def test_someone_elses_order_cannot_be_cancelled(
        runtime: bootstrap.Runtime, client: TestClient) -> None:
    pen = catalog.create_product(runtime.shop, "PEN-1", "Pen", 150, 10)
    alice, bob = _user(client, "alice"), _user(client, "bob")
    placed = client.post("/orders", json={"lines": [{"product_id": pen.id, "quantity": 4}]},
                         headers=alice)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]
    assert _stock(runtime.engine, pen.id) == 6

    # Bob cannot see or cancel it: a 404, as for an order that does not exist ...
    _problem(client.post(f"/orders/{order_id}/cancel", headers=bob), 404, "not-found")
    _problem(client.get(f"/orders/{order_id}", headers=bob), 404, "not-found")
    # ... and nothing moved: Alice's order stands, the stock is still taken.
    assert _stock(runtime.engine, pen.id) == 6
    mine = client.get(f"/orders/{order_id}", headers=alice).json()
    assert mine["status"] == "placed"
    assert client.get("/orders", headers=bob).json()["items"] == []

    cancelled = client.post(f"/orders/{order_id}/cancel", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert _stock(runtime.engine, pen.id) == 10


def test_an_idempotency_key_belongs_to_its_user(
        runtime: bootstrap.Runtime, client: TestClient) -> None:
    pen = catalog.create_product(runtime.shop, "PEN-1", "Pen", 150, 10)
    alice, bob = _user(client, "alice"), _user(client, "bob")
    order = {"lines": [{"product_id": pen.id, "quantity": 2}]}
    first = client.post("/orders", json=order, headers={**alice, "Idempotency-Key": "k-1"})
    # Bob happens to pick the same key for the same basket: he gets his own order,
    # not a replay of Alice's.
    second = client.post("/orders", json=order, headers={**bob, "Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert "Idempotent-Replayed" not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["user_id"] != second.json()["user_id"]
    assert _stock(runtime.engine, pen.id) == 6
    assert _count(runtime.engine, schema.orders) == 2
    # Bob's key replays Bob's order; a different basket under it is refused for Bob only.
    again = client.post("/orders", json=order, headers={**bob, "Idempotency-Key": "k-1"})
    assert again.json()["id"] == second.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = {"lines": [{"product_id": pen.id, "quantity": 1}]}
    _problem(client.post("/orders", json=other, headers={**bob, "Idempotency-Key": "k-1"}),
             422, "idempotency-key-reused")
    assert _stock(runtime.engine, pen.id) == 6


def test_reservations_cancel_once_and_only_by_their_owner(
        runtime: bootstrap.Runtime, client: TestClient) -> None:
    room = catalog.create_room(runtime.shop, "DBL", "Double", 9000, 2, first_night=CHECK_IN,
                               horizon_days=5)
    alice, bob = _user(client, "alice"), _user(client, "bob")
    stay = {"room_id": room.id, "check_in": CHECK_IN.isoformat(),
            "check_out": (CHECK_IN + timedelta(days=2)).isoformat(), "rooms": 2}
    booked = client.post("/reservations", json=stay, headers=alice)
    assert booked.status_code == 201, booked.text
    rid = booked.json()["id"]
    assert _reserved(runtime.engine, room.id) == [2, 2, 0, 0, 0]

    _problem(client.post(f"/reservations/{rid}/cancel", headers=bob), 404, "not-found")
    _problem(client.get(f"/reservations/{rid}", headers=bob), 404, "not-found")
    assert _reserved(runtime.engine, room.id) == [2, 2, 0, 0, 0]
    assert client.get(f"/reservations/{rid}", headers=alice).json()["status"] != "cancelled"

    assert client.post(f"/reservations/{rid}/cancel", headers=alice).json()["status"] == (
        "cancelled")
    assert _reserved(runtime.engine, room.id) == [0, 0, 0, 0, 0]
    # Twice: a conflict, and the nights are not given back a second time.
    twice = _problem(client.post(f"/reservations/{rid}/cancel", headers=alice), 409,
                     "conflict")
    assert twice["retryable"] is False
    assert _reserved(runtime.engine, room.id) == [0, 0, 0, 0, 0]
    # The freed nights sell again, once.
    assert client.post("/reservations", json=stay, headers=bob).status_code == 201
    _problem(client.post("/reservations", json=stay, headers=bob), 409, "sold-out")


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_conflict_that_outlives_the_retries_is_409_retry_and_writes_nothing(
        request: pytest.FixtureRequest, tmp_path: Path, database: str) -> None:
    """Every attempt loses its optimistic race (another writer commits a change to the
    product just before our UPDATE): the client gets a 409 ``retry`` with ``retryable``
    and ``Retry-After``, and no order, line, idempotency record or stock change remains."""
    url = None
    if database == "postgresql":
        url = fresh_pg_database(request.getfixturevalue("postgres_server"), "rules")
    settings = Settings(data_dir=tmp_path, database_url=url,
                        reservation_strategy="optimistic", seed_demo=False)
    runtime = bootstrap.build(settings)
    bootstrap.migrate_database(runtime)
    # The production shop with its production retry policy.
    assert runtime.shop.retry == ConflictRetry()
    client = TestClient(bootstrap.build_app(runtime))
    pen = catalog.create_product(runtime.shop, "PEN-1", "Pen", 150, 10)
    alice = _user(client, "alice")
    # On SQLite a keyed order writes its key first, which takes the database's one write
    # lock: nobody can commit in between, so only an order without a key can lose the race.
    keyed = {**alice, "Idempotency-Key": "r-1"} if database == "postgresql" else alice
    rival = make_engine(settings.effective_database_url)  # another process, in effect
    armed = {"on": True, "won": 0}

    @event.listens_for(runtime.engine, "before_cursor_execute")
    def rival_commits_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if armed["on"] and statement.lstrip().upper().startswith("UPDATE PRODUCTS"):
            with rival.begin() as other:
                other.execute(text("UPDATE products SET version = version + 1 WHERE id = :id"),
                              {"id": pen.id})
            armed["won"] += 1

    order = {"lines": [{"product_id": pen.id, "quantity": 3}]}
    lost = client.post("/orders", json=order, headers=keyed)
    body = _problem(lost, 409, "retry")
    assert body["retryable"] is True
    assert int(lost.headers["retry-after"]) >= 1
    assert armed["won"] == ConflictRetry().attempts  # every attempt was retried, then given up
    assert _stock(runtime.engine, pen.id) == 10
    for table in (schema.orders, schema.order_lines, schema.idempotency_keys):
        assert _count(runtime.engine, table) == 0, table

    # Sent again once the rival stops, the same request places the order, once.
    armed["on"] = False
    again = client.post("/orders", json=order, headers=keyed)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert _stock(runtime.engine, pen.id) == 7
    rival.dispose()
    runtime.close()
