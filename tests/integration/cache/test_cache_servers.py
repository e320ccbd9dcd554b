"""Cache-aside on real Redis and Memcached, server loss, shared guards, Redis structures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date

import pytest
import redis
from tests.support.cache import Db, Item, codec

from bazaar import localservers
from bazaar.cache import (
    Backend,
    Cache,
    CacheConfigError,
    CachePolicy,
    RedisGuard,
    Structures,
    backend_from_url,
    memory_structures,
    redis_structures,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["redis", "memcached"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    server: localservers.LocalServer = request.getfixturevalue(f"{request.param}_server")
    b = backend_from_url(server.url)
    yield b
    await b.aclose()


def _ns() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def test_cache_aside_on_a_real_server(backend: Backend) -> None:
    db, c = Db(delay=0.01), Cache(backend, codec(), namespace=_ns())
    results = await asyncio.gather(*(c.get(5, db.loader(5)) for _ in range(20)))
    assert set(results) == {Item(5, "item 5")}
    assert await c.get(5, db.loader(5)) == Item(5, "item 5")
    assert await c.get(404, db.loader(404)) is None
    assert await c.get(404, db.loader(404)) is None
    assert db.queries == 2
    assert c.metrics.hits == 1 and c.metrics.null_hits == 1


async def test_invalidation_reaches_another_process(backend: Backend) -> None:
    ns, db = _ns(), Db(delay=0.01)
    writer = Cache(backend, codec(), namespace=ns)
    reader = Cache(backend, codec(), namespace=ns)  # another app process, same server
    await reader.get(1, db.loader(1))
    db.rows[1] = Item(1, "new name")
    assert writer.invalidate(1)
    assert await reader.get(1, db.loader(1)) == Item(1, "new name")


async def test_entries_expire(backend: Backend) -> None:
    db = Db(delay=0.01)
    c = Cache(backend, codec(), namespace=_ns(), policy=CachePolicy(ttl_s=1, jitter=0))
    await c.get(2, db.loader(2))
    await asyncio.sleep(2.1)  # Memcached expires on whole seconds
    await c.get(2, db.loader(2))
    assert db.queries == 2


@pytest.mark.parametrize("kind", ["redis", "memcached"])
async def test_a_dead_cache_server_costs_latency_not_requests(kind: str) -> None:
    start = localservers.redis if kind == "redis" else localservers.memcached
    with start() as server:
        backend = backend_from_url(server.url, timeout_s=0.2)
        db = Db(delay=0.01)
        c = Cache(backend, codec(), namespace="x", policy=CachePolicy(retry_after_s=0.3))
        assert await c.get(1, db.loader(1)) == Item(1, "item 1")
    # The server is gone: every read still answers, from the database.
    for i in range(1, 11):
        assert await c.get(i, db.loader(i)) == Item(i, f"item {i}")
    assert c.metrics.backend_errors >= 1
    assert c.metrics.bypassed >= 1  # skipped while marked down, no timeout per request
    assert c.invalidate(1) is False  # the write side is told, not crashed
    await backend.aclose()


async def test_redis_guard_is_shared_between_processes(
        redis_server: localservers.LocalServer) -> None:
    key = f"guard-{uuid.uuid4().hex}"
    one = RedisGuard(redis.Redis.from_url(redis_server.url), key, capacity=10_000)
    two = RedisGuard(redis.Redis.from_url(redis_server.url), key, capacity=10_000)
    one.rebuild(range(1, 1001))
    assert await two.might_exist(500)
    assert not await two.might_exist(123_456_789)
    one.add(5000)
    assert await two.might_exist(5000)


async def test_redis_guard_fails_open() -> None:
    with localservers.redis() as server:
        guard = RedisGuard(redis.Redis.from_url(server.url, socket_timeout=0.2), "g",
                           capacity=100)
    assert await guard.might_exist(1)
    guard.add(2)  # no exception


@pytest.fixture(params=["memory", "redis"])
def structures(request: pytest.FixtureRequest) -> Structures:
    if request.param == "memory":
        return memory_structures()
    server: localservers.LocalServer = request.getfixturevalue("redis_server")
    return redis_structures(server.url, prefix=_ns())


async def test_counters(structures: Structures) -> None:
    for _ in range(3):
        await structures.counters.incr(7, "views")
    await structures.counters.incr(7, "clicks", 2)
    assert await structures.counters.counts(7) == {"views": 3, "clicks": 2}
    assert await structures.counters.counts(8) == {}
    with pytest.raises(CacheConfigError):
        await structures.counters.incr(7, "Bad Name")
    assert await structures.counters.counts(7) == {"views": 3, "clicks": 2}


async def test_commenters_are_deduplicated_and_sorted_by_time(structures: Structures) -> None:
    c = structures.commenters
    assert await c.add(1, 10, 100.0)
    assert await c.add(1, 11, 200.0)
    assert not await c.add(1, 10, 300.0)  # again: moves up, not duplicated
    assert not await c.add(1, 11, 150.0)  # an older timestamp never moves it back
    assert await c.recent(1) == [(10, 300.0), (11, 200.0)]
    assert await c.recent(1, limit=1) == [(10, 300.0)]


async def test_login_bitmaps(structures: Structures) -> None:
    d1, d2 = date(2026, 11, 26), date(2026, 11, 27)
    logins = structures.logins
    for user in (1, 5, 9, 1_000_000):
        assert await logins.record(user, d1)
    assert not await logins.record(5, d1)
    for user in (5, 9, 42):
        await logins.record(user, d2)
    assert await logins.daily_actives(d1) == 4
    assert await logins.daily_actives(d2) == 3
    assert await logins.active_on_all([d1, d2]) == 2
    assert await logins.was_active(1_000_000, d1) and not await logins.was_active(42, d1)
    with pytest.raises(CacheConfigError):
        await logins.record(-1, d1)
    with pytest.raises(CacheConfigError):
        await logins.record(2**32, d1)
