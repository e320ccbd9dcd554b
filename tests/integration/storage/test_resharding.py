"""Moving a logical shard between two real PostgreSQL servers while writers keep writing:
every acknowledged write is found exactly once, on the server the directory names, the row
hashes match, the pause is measured; a move stopped after the copy or with its switch
prepared (as a crash there would leave it) is settled by running it again."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Connection, Engine, text

from bazaar.localservers import postgres
from bazaar.storage import make_engine
from bazaar.storage.resharding import ReshardError, move_shard, table_hashes
from bazaar.storage.shards import (
    IdGenerator,
    ShardedStore,
    ShardMap,
    add_server,
    schema_name,
    shard_of,
    write_directory,
)

LOGICAL = 8
#: Shard servers need logical decoding for the copy, prepared transactions for the switch.
SETTINGS = {"wal_level": "logical", "max_prepared_transactions": "8",
            "max_replication_slots": "8", "max_wal_senders": "8"}


def ddl(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint NOT NULL, "
                      "total_cents int NOT NULL)"))
    conn.execute(text("CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders, "
                      "n int NOT NULL, PRIMARY KEY (order_id, n))"))


@dataclass
class Writers:
    """Threads placing orders (an order and two lines, one transaction) on random shards,
    each remembering what was acknowledged and how long each write took."""

    store: ShardedStore
    acked: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    #: one generator for all threads: two generators can hand out the same id
    ids: IdGenerator = field(default_factory=IdGenerator)

    def run(self, seed: int) -> None:
        rng, gen = random.Random(seed), self.ids
        for _ in range(100_000):  # bounded; stopped long before
            if self.stop.is_set():
                return
            shard = rng.randrange(LOGICAL)
            order_id, total = gen.next(shard), rng.randrange(10_000)

            def place(conn: Connection, i: int = order_id, t: int = total) -> None:
                conn.execute(text("INSERT INTO orders VALUES (:i, :u, :t)"),
                             {"i": i, "u": i, "t": t})
                conn.execute(text("INSERT INTO order_lines VALUES (:i, 1), (:i, 2)"), {"i": i})

            began = time.monotonic()
            try:
                self.store.run(shard, place)
            except Exception as exc:  # counted, asserted empty
                self.errors.append(repr(exc)[:300])
                continue
            self.latencies.append(time.monotonic() - began)
            self.acked[order_id] = total
            time.sleep(0.002)  # a light load: two threads, a write every 2 ms each at most


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with ExitStack() as stack:
        yield {n: stack.enter_context(postgres(settings=SETTINGS)).url for n in ("a", "b")}


@pytest.fixture()
def cluster(servers: dict[str, str]) -> Iterator[tuple[ShardedStore, dict[str, Engine]]]:
    """Every logical shard on server a (the directory too), server b registered, empty."""
    engines = {n: make_engine(url) for n, url in servers.items()}
    for engine in engines.values():  # what an earlier test left
        with engine.begin() as conn:
            for (schema,) in conn.execute(text(
                    "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'shard%'")).all():
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            conn.execute(text("DROP TABLE IF EXISTS bazaar_shard_map, bazaar_shard_servers"))
    directory = make_engine(servers["a"])
    write_directory(directory, ShardMap.spread(LOGICAL, ["a"]), {"a": servers["a"]})
    add_server(directory, "b", servers["b"])
    store = ShardedStore.open(directory, make_engine)
    store.create_schemas(ddl)
    yield store, engines
    store.dispose()
    directory.dispose()
    for engine in engines.values():
        engine.dispose()


def _holders(engines: dict[str, Engine], shard: int) -> list[str]:
    found = []
    for name, engine in engines.items():
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass(:t)"),
                            {"t": f"{schema_name(shard)}.orders"}).scalar():
                found.append(name)
    return found


def _check_every_ack(store: ShardedStore, engines: dict[str, Engine],
                     acked: dict[int, int]) -> None:
    """Each acknowledged order exactly once, on the server the directory names, with its
    two lines; no shard's schema on two servers."""
    for shard in range(LOGICAL):
        assert _holders(engines, shard) == [store.map.server_of_shard(shard)], shard
    seen: dict[int, int] = {}
    for shard in range(LOGICAL):
        with store.begin_shard(shard) as conn:
            for order_id, total, lines in conn.execute(text(
                    "SELECT o.id, o.total_cents, count(l.n) FROM orders o "
                    "LEFT JOIN order_lines l ON l.order_id = o.id GROUP BY o.id")):
                assert shard_of(order_id) == shard and order_id not in seen
                assert lines == 2, order_id
                seen[order_id] = total
    missing = set(acked) - set(seen)
    assert not missing, f"{len(missing)} acknowledged orders lost"
    assert {i: seen[i] for i in acked} == acked


def test_a_move_under_write_load_loses_nothing(cluster: tuple[ShardedStore,
                                                              dict[str, Engine]]) -> None:
    store, engines = cluster
    writers = Writers(store)
    threads = [threading.Thread(target=writers.run, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)  # rows to copy, written while the writers run
        report = move_shard(store, 3, "b", ddl, echo=lambda _m: None)
        time.sleep(0.3)  # writes after the switch reach the new server
    finally:
        writers.stop.set()
        for t in threads:
            t.join(timeout=30)
    assert not writers.errors, writers.errors[:3]
    assert report.result == "moved" and store.map.server_of_shard(3) == "b"
    assert report.tables["orders"][0] > 0 and report.tables["order_lines"][0] > 0
    assert report.pause_ms < 1000, report
    print(f"\nmoved shard 3: {report.tables['orders'][0]} orders, copy {report.copy_s:.2f} s, "
          f"pause {report.pause_ms:.0f} ms (catch-up {report.catch_up_ms:.0f}, hash "
          f"{report.hash_ms:.0f}); slowest write {max(writers.latencies) * 1000:.0f} ms of "
          f"{len(writers.latencies)}; rerouted {store.rerouted}")
    _check_every_ack(store, engines, writers.acked)
    with store.begin_shard(3) as conn:  # the new copy's hash is the one checked at the switch
        assert table_hashes(conn, schema_name(3))["orders"][0] >= report.tables["orders"][0]
    # and moving it back, without load, is the same operation
    back = move_shard(store, 3, "a", ddl, echo=lambda _m: None)
    assert back.result == "moved" and _holders(engines, 3) == ["a"]
    assert move_shard(store, 3, "a", ddl, echo=lambda _m: None).result == "already-there"
    _check_every_ack(store, engines, writers.acked)


def test_a_move_stopped_midway_twice_is_settled_by_running_it_again(
        cluster: tuple[ShardedStore, dict[str, Engine]]) -> None:
    """Stopped after the copy (a live subscription left), then stopped again with the
    switch prepared (the lock held by a prepared transaction), then run to the end."""
    store, engines = cluster
    gen = IdGenerator()
    acked: dict[int, int] = {}
    for n in range(200):
        order_id = gen.next(n % LOGICAL)

        def place(conn: Connection, i: int = order_id, t: int = n) -> None:
            conn.execute(text("INSERT INTO orders VALUES (:i, :i, :t)"), {"i": i, "t": t})
            conn.execute(text("INSERT INTO order_lines VALUES (:i, 1), (:i, 2)"), {"i": i})

        store.run(shard_of(order_id), place)
        acked[order_id] = n
    for stop in ("copy", "prepare"):
        with pytest.raises(ReshardError, match="as asked"):
            move_shard(store, 5, "b", ddl, echo=lambda _m: None, stop_after=stop)
        assert store.map.server_of_shard(5) == "a"  # the directory did not move
    again = move_shard(store, 5, "b", ddl, echo=lambda _m: None)
    assert again.result == "moved", again
    assert "rollback the switch prepared on a" in again.recovered
    assert "dropped a partial copy on b" in again.recovered
    assert store.map.server_of_shard(5) == "b"
    _check_every_ack(store, engines, acked)


def test_bad_requests_change_nothing(cluster: tuple[ShardedStore, dict[str, Engine]]) -> None:
    store, engines = cluster
    with pytest.raises(ReshardError, match="no server 'c'"):
        move_shard(store, 1, "c", ddl, echo=lambda _m: None)
    with pytest.raises(ReshardError, match=r"not in 0\.\.7"):
        move_shard(store, 99, "b", ddl, echo=lambda _m: None)
    with pytest.raises(ReshardError, match="stop_after"):
        move_shard(store, 1, "b", ddl, echo=lambda _m: None, stop_after="later")
    assert all(_holders(engines, s) == ["a"] for s in range(LOGICAL))


def test_row_hashes_see_any_difference_but_not_row_order(servers: dict[str, str]) -> None:
    engines = [make_engine(url) for url in servers.values()]
    try:
        for engine, order in zip(engines, ("ASC", "DESC"), strict=True):
            with engine.begin() as conn:  # the same rows, written in opposite orders
                conn.execute(text("DROP SCHEMA IF EXISTS shard_hash CASCADE"))
                conn.execute(text("CREATE SCHEMA shard_hash"))
                conn.execute(text("CREATE TABLE shard_hash.t (id bigint PRIMARY KEY, v text)"))
                conn.execute(text(f"INSERT INTO shard_hash.t SELECT g, 'v' || g FROM "
                                  f"generate_series(1, 500) g ORDER BY g {order}"))
        a, b = engines

        def hashes(engine: Engine) -> dict[str, tuple[int, str]]:
            with engine.connect() as conn:
                return table_hashes(conn, "shard_hash")

        assert hashes(a) == hashes(b) and hashes(a)["t"][0] == 500
        for change in ("UPDATE shard_hash.t SET v = 'w' WHERE id = 250",
                       "DELETE FROM shard_hash.t WHERE id = 1",
                       "INSERT INTO shard_hash.t VALUES (501, NULL)"):
            with b.begin() as conn:
                conn.execute(text(change))
            assert hashes(a) != hashes(b), change
            with a.begin() as conn:  # the same change on a: equal again
                conn.execute(text(change))
            assert hashes(a) == hashes(b), change
    finally:
        for engine in engines:
            with engine.begin() as conn:
                conn.execute(text("DROP SCHEMA IF EXISTS shard_hash CASCADE"))
            engine.dispose()
