"""Reads routed to real streaming standbys, with read-your-writes by LSN token.

One primary and two standbys (``pg_basebackup``, replication slots); the second applies WAL
10 ms late (``recovery_min_apply_delay``), so a read right after a write would see the old
row there. Every probe writes on the primary, takes the token, and reads through the
router: none may read stale, while the standbys still serve nearly all reads.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from bazaar.cluster import Node, replicated_postgres
from bazaar.shop.adapters import MIGRATIONS, SqlCatalogQueries
from bazaar.storage import (
    ReadRouter,
    RoutingPolicy,
    make_engine,
    migrate,
    parse_lsn,
    pinned_to_primary,
    read_token,
)

PROBES = 300


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Node]]:
    with replicated_postgres(tmp_path_factory.mktemp("replicas"), standbys=2,
                             delay_ms=10) as nodes:
        yield nodes


@pytest.fixture
def router(servers: list[Node]) -> Iterator[ReadRouter]:
    primary = make_engine(servers[0].url)
    migrate.upgrade(primary, MIGRATIONS)
    with primary.begin() as conn:
        conn.execute(text("DELETE FROM products"))
        conn.execute(text("INSERT INTO products (id, sku, name, price_cents, stock, version) "
                          "VALUES (1, 'p1', 'Probe', 100, 0, 1)"))
    r = ReadRouter(primary, [(n.name, make_engine(n.url)) for n in servers[1:]],
                   RoutingPolicy(wait_s=0.2, poll_every_s=0.05))
    yield r
    r.close()
    primary.dispose()


def _write(primary: Engine, stock: int) -> None:
    with primary.begin() as conn:
        conn.execute(text("UPDATE products SET stock = :s WHERE id = 1"), {"s": stock})


def test_zero_stale_reads_after_writes_while_standbys_serve_the_reads(
        router: ReadRouter) -> None:
    queries = SqlCatalogQueries(router)
    stale = 0
    for stock in range(1, PROBES + 1):
        _write(router.primary, stock)
        token = router.primary_lsn()
        with read_token(token):
            view = queries.product(1)
        assert view is not None
        stale += view.stock != stock
    assert stale == 0
    standby_reads = router.reads["pg-standby-1"] + router.reads["pg-standby-2"]
    assert standby_reads + router.reads["primary"] == PROBES
    assert standby_reads >= 0.9 * PROBES, (router.reads, router.events)


def test_without_a_token_the_delayed_standby_is_seen_stale_and_both_serve(
        router: ReadRouter) -> None:
    """The control: the same probes with no token do read stale rows — the delay is real."""
    queries = SqlCatalogQueries(router)
    stale = 0
    for stock in range(1, 101):
        _write(router.primary, stock)
        view = queries.product(1)
        assert view is not None
        stale += view.stock != stock
    assert stale > 0
    assert router.reads["pg-standby-1"] > 0 and router.reads["pg-standby-2"] > 0
    assert router.reads["primary"] == 0


def test_a_token_no_standby_reaches_falls_back_to_the_primary(router: ReadRouter) -> None:
    queries = SqlCatalogQueries(router)
    _write(router.primary, 7)
    forged = parse_lsn("FFFFFFFF/FFFFFFFF")
    with read_token(forged):
        view = queries.product(1)
    assert view is not None and view.stock == 7
    assert router.reads["primary"] == 1 and router.events["token-ahead"] == 1


def test_a_write_reads_its_own_rows_on_the_primary(router: ReadRouter) -> None:
    queries = SqlCatalogQueries(router)
    with pinned_to_primary():
        queries.product(1)
    assert dict(router.reads) == {"primary": 1}


def test_a_dead_standby_is_skipped(servers: list[Node], router: ReadRouter) -> None:
    dead = ReadRouter(router.primary, [("gone", make_engine(
        "postgresql+psycopg://postgres@127.0.0.1:1/bazaar")), (servers[1].name,
                                                                make_engine(servers[1].url))])
    queries = SqlCatalogQueries(dead)
    try:
        for _ in range(6):
            assert queries.product(1) is not None
    finally:
        dead.close()
    assert dead.reads["gone"] == 0 and dead.events["standby-down"] >= 1
    assert dead.reads[servers[1].name] >= 4


def _replay(node: Node, action: str) -> None:
    engine = make_engine(node.url)
    with engine.connect() as conn:
        conn.execute(text(f"SELECT pg_wal_replay_{action}()"))
    engine.dispose()


def test_lagging_standbys_are_skipped(servers: list[Node], router: ReadRouter) -> None:
    """Replay paused on both standbys, the primary moves on: they lag, and serve nothing."""
    strict = ReadRouter(router.primary, [(n.name, make_engine(n.url)) for n in servers[1:]],
                        RoutingPolicy(max_lag_bytes=0, poll_every_s=3600))
    for node in servers[1:]:
        _replay(node, "pause")
    try:
        _write(router.primary, 11)
        strict.poll()
        assert all(int(str(s["lag_bytes"])) > 0 for s in strict.standbys())
        view = SqlCatalogQueries(strict).product(1)
        assert view is not None and view.stock == 11
    finally:
        for node in servers[1:]:
            _replay(node, "resume")
        strict.close()
    assert strict.reads["primary"] >= 1 and strict.events["standbys-lagging"] >= 1
    assert strict.reads["pg-standby-1"] == strict.reads["pg-standby-2"] == 0


def test_status_of_the_standbys(router: ReadRouter) -> None:
    router.poll()
    seen = {s["name"]: s for s in router.standbys()}
    assert set(seen) == {"pg-standby-1", "pg-standby-2"}
    assert all(s["healthy"] for s in seen.values())
    assert all(parse_lsn(str(s["replayed"])) for s in seen.values())
