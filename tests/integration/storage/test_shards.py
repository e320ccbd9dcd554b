"""Logical shards (a schema each) on two real PostgreSQL servers: under hypothesis, every row
lands on the server and schema its id names, and a cross-shard listing — the shards' sorted
streams merged — equals the whole table sorted."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from bazaar.localservers import postgres
from bazaar.storage import make_engine
from bazaar.storage.shards import (
    IdGenerator,
    ShardedStore,
    ShardMap,
    schema_name,
    shard_of,
)

LOGICAL = 16


@pytest.fixture(scope="module")
def engines() -> Iterator[dict[str, Engine]]:
    with ExitStack() as stack:
        servers = {name: stack.enter_context(postgres()) for name in ("db-a", "db-b")}
        made = {name: make_engine(s.url) for name, s in servers.items()}
        yield made
        for engine in made.values():
            engine.dispose()


@pytest.fixture(scope="module")
def store(engines: dict[str, Engine]) -> ShardedStore:
    sharded = ShardedStore(ShardMap.spread(LOGICAL, sorted(engines)), engines)

    def ddl(conn: Connection) -> None:
        conn.execute(text("CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, "
                          "user_id bigint NOT NULL, total_cents int NOT NULL)"))

    sharded.create_schemas(ddl)
    return sharded


def _place(store: ShardedStore, gen: IdGenerator, user_id: int, total: int) -> int:
    order_id = gen.next(shard_of(user_id))  # the order lives on its owner's shard
    with store.begin_for(order_id) as conn:
        conn.execute(text("INSERT INTO orders VALUES (:i, :u, :t)"),
                     {"i": order_id, "u": user_id, "t": total})
    return order_id


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 100_000)), min_size=1,
                max_size=30))
def test_every_row_lands_on_the_shard_its_id_names(store: ShardedStore,
                                                   engines: dict[str, Engine],
                                                   orders: list[tuple[int, int]]) -> None:
    gen = IdGenerator()
    users = {key: gen.next(store.map.shard_for_key(key)) for key, _ in orders}
    placed = [_place(store, gen, users[key], total) for key, total in orders]
    for order_id in placed:
        shard = shard_of(order_id)
        home = store.map.server_of_shard(shard)
        for name, engine in engines.items():  # found where the id says, and nowhere else
            with engine.connect() as conn:
                table = f"{schema_name(shard)}.orders"
                exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
                found = exists and conn.execute(text(
                    f"SELECT user_id FROM {table} WHERE id = :i"), {"i": order_id}).scalar()
            if name == home:
                assert found is not None, (order_id, shard, name)
            else:  # the other server does not even hold that logical shard
                assert exists is None, (order_id, shard, name)


def test_a_cross_shard_listing_merges_sorted_streams(store: ShardedStore) -> None:
    gen = IdGenerator()
    for key in range(200):
        user = gen.next(store.map.shard_for_key(key))
        _place(store, gen, user, (key * 7919) % 1000)

    def top(conn: Connection, _shard: int) -> list[Any]:
        return list(conn.execute(text(
            "SELECT total_cents, id FROM orders ORDER BY total_cents DESC, id LIMIT 25")))

    merged = store.merged(top, key=lambda r: (-r[0], r[1]), limit=25)
    everything: list[Any] = []
    for shard in range(LOGICAL):
        with store.begin_shard(shard) as conn:
            everything += conn.execute(text("SELECT total_cents, id FROM orders")).all()
    assert [tuple(r) for r in merged] == sorted(
        (tuple(r) for r in everything), key=lambda r: (-r[0], r[1]))[:25]
    assert len({shard_of(r[1]) for r in merged}) > 1  # it did come from several shards
