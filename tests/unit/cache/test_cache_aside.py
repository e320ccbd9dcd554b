"""Cache-aside on the in-process backend: hits, single-flight, nulls, guard, jitter, errors."""

from __future__ import annotations

import asyncio
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.support.cache import Db, Item, codec

import bazaar.cache as cache_pkg
from bazaar.cache import (
    Cache,
    CacheConfigError,
    CachePolicy,
    InvalidCacheKeyError,
    LocalGuard,
    MemoryBackend,
    OrjsonCodec,
    backend_from_url,
)

pytestmark = pytest.mark.anyio


def test_public_surface() -> None:
    assert set(cache_pkg.__all__) == {n for n in dir(cache_pkg) if not n.startswith("_")} - {
        "annotations"}


async def test_miss_then_hit() -> None:
    db, c = Db(), Cache(MemoryBackend(), codec(), namespace="item")
    assert await c.get(7, db.loader(7)) == Item(7, "item 7")
    assert await c.get(7, db.loader(7)) == Item(7, "item 7")
    assert db.queries == 1
    assert (c.metrics.hits, c.metrics.misses, c.metrics.loader_calls) == (1, 1, 1)


async def test_single_flight_runs_one_loader_for_concurrent_misses() -> None:
    db, c = Db(delay=0.05), Cache(MemoryBackend(), codec(), namespace="item")
    results = await asyncio.gather(*(c.get(3, db.loader(3)) for _ in range(50)))
    assert set(results) == {Item(3, "item 3")}
    assert db.queries == 1
    assert c.metrics.coalesced == 49


async def test_a_failing_loader_fails_its_waiters_and_caches_nothing() -> None:
    c = Cache(MemoryBackend(), codec(), namespace="item")
    calls = 0

    async def boom() -> Item | None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        raise RuntimeError("database down")

    results = await asyncio.gather(*(c.get(1, boom) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert calls == 1
    assert await c.get(1, Db().loader(1)) == Item(1, "item 1")


async def test_not_found_is_cached_briefly() -> None:
    db = Db()
    c = Cache(MemoryBackend(), codec(), namespace="item",
              policy=CachePolicy(null_ttl_s=0.05))
    for _ in range(10):
        assert await c.get(999, db.loader(999)) is None
    assert db.queries == 1
    assert c.metrics.null_hits == 9
    await asyncio.sleep(0.08)
    assert await c.get(999, db.loader(999)) is None
    assert db.queries == 2


async def test_without_null_caching_every_miss_reaches_the_database() -> None:
    db = Db()
    c = Cache(MemoryBackend(), codec(), namespace="item",
              policy=CachePolicy(cache_nulls=False))
    for _ in range(10):
        assert await c.get(999, db.loader(999)) is None
    assert db.queries == 10


async def test_bloom_guard_turns_away_ids_that_cannot_exist() -> None:
    db, guard = Db(), LocalGuard(1000, 0.001)
    guard.rebuild(db.rows)
    backend = MemoryBackend()
    c = Cache(backend, codec(), namespace="item", guard=guard)
    for bad in range(10_000, 11_000):
        assert await c.get(bad, db.loader(bad)) is None
    # At p = 0.1%, about one of 1000 impossible ids slips through to the database.
    assert db.queries <= 5
    assert c.metrics.bloom_rejections >= 995
    assert await c.get(5, db.loader(5)) == Item(5, "item 5")
    db.rows[20_000] = Item(20_000, "new")
    c.inserted(20_000)
    assert await c.get(20_000, db.loader(20_000)) == Item(20_000, "new")


async def test_insert_drops_a_cached_not_found() -> None:
    db = Db()
    c = Cache(MemoryBackend(), codec(), namespace="item")
    assert await c.get(500, db.loader(500)) is None
    db.rows[500] = Item(500, "late")
    c.inserted(500)
    assert await c.get(500, db.loader(500)) == Item(500, "late")


async def test_invalidate_makes_the_next_read_fresh() -> None:
    db = Db()
    c = Cache(MemoryBackend(), codec(), namespace="item")
    await c.get(1, db.loader(1))
    db.rows[1] = Item(1, "renamed")
    assert c.invalidate(1)
    assert await c.get(1, db.loader(1)) == Item(1, "renamed")


async def test_a_load_racing_an_invalidation_is_not_stored() -> None:
    db = Db(delay=0.05)
    c = Cache(MemoryBackend(), codec(), namespace="item")
    task = asyncio.create_task(c.get(1, db.loader(1)))
    await asyncio.sleep(0.01)
    c.invalidate(1)  # the write committed while the old row was being read
    await task
    db.delay = 0
    await c.get(1, db.loader(1))
    assert db.queries == 2


class RecordingBackend(MemoryBackend):
    def __init__(self) -> None:
        super().__init__()
        self.ttls: list[float] = []

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        self.ttls.append(ttl_s)
        await super().set(key, value, ttl_s)


async def test_ttls_are_jittered_within_bounds() -> None:
    backend, db = RecordingBackend(), Db(n=500)
    c = Cache(backend, codec(), namespace="item",
              policy=CachePolicy(ttl_s=100, jitter=0.2), rng=random.Random(1))
    for i in range(1, 501):
        await c.get(i, db.loader(i))
    assert all(80 <= t <= 120 for t in backend.ttls)
    assert max(backend.ttls) - min(backend.ttls) > 30  # spread out, not synchronised


async def test_undecodable_entry_is_reloaded() -> None:
    backend, db = MemoryBackend(), Db()
    c = Cache(backend, codec(), namespace="item")
    await backend.set("item:4", b"v\xc1garbage", 60)
    assert await c.get(4, db.loader(4)) == Item(4, "item 4")
    assert db.queries == 1


async def test_orjson_codec_round_trip() -> None:
    db = Db()
    c = Cache(MemoryBackend(), OrjsonCodec(lambda d: Item(**d)), namespace="j")
    await c.get(2, db.loader(2))
    assert await c.get(2, db.loader(2)) == Item(2, "item 2")
    assert db.queries == 1


def test_memory_backend_evicts_least_recently_used() -> None:
    async def run() -> None:
        b = MemoryBackend(max_entries=2)
        await b.set("a", b"1", 60)
        await b.set("b", b"2", 60)
        await b.get("a")
        await b.set("c", b"3", 60)
        assert await b.get("b") is None
        assert await b.get("a") == b"1"
    asyncio.run(run())


@pytest.mark.parametrize("key", ["", "has space", "x" * 251, "tab\t", "caf\u00e9"])
async def test_bad_keys_are_rejected_before_anything_happens(key: str) -> None:
    db = Db()
    c = Cache(MemoryBackend(), codec(), namespace="item")
    with pytest.raises(InvalidCacheKeyError):
        await c.get(key, db.loader(1))
    assert db.queries == 0


@pytest.mark.parametrize("policy", [dict(ttl_s=0), dict(null_ttl_s=-1), dict(jitter=1.0),
                                    dict(retry_after_s=-1)])
def test_bad_policy_is_rejected(policy: dict[str, float]) -> None:
    with pytest.raises(CacheConfigError):
        CachePolicy(**policy)  # type: ignore[arg-type]


@pytest.mark.parametrize("url", ["ftp://x", "memcached://", "memory://?max_entries=x",
                                 "memcached://h:notaport"])
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(CacheConfigError):
        backend_from_url(url)


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["get", "write", "delete"]),
                              st.integers(1, 8)), max_size=40))
def test_reads_always_match_the_database(ops: list[tuple[str, int]]) -> None:
    """Whatever the interleaving of reads, writes-then-invalidate and deletes, a read after
    the write returns what the database holds (no stale entry survives invalidation)."""
    async def run() -> None:
        db = Db(n=4)
        c = Cache(MemoryBackend(), codec(), namespace="item")
        version = 0
        for op, item_id in ops:
            if op == "get":
                assert await c.get(item_id, db.loader(item_id)) == db.rows.get(item_id)
            elif op == "write":
                version += 1
                db.rows[item_id] = Item(item_id, f"v{version}")
                c.inserted(item_id)
            else:
                db.rows.pop(item_id, None)
                c.invalidate(item_id)
    asyncio.run(run())


def test_an_insert_during_a_guard_rebuild_is_not_lost() -> None:
    guard = LocalGuard(100, 0.001)

    def ids_from_database():  # type: ignore[no-untyped-def]
        yield from range(50)
        guard.add(10_000)  # committed by another request while the ids are being read
        yield from range(50, 100)

    guard.rebuild(ids_from_database())

    async def check() -> None:
        assert await guard.might_exist(10_000)
        assert all([await guard.might_exist(i) for i in range(100)])
    asyncio.run(check())


class FlakyGuard(LocalGuard):
    """A guard whose store refuses writes (as a RedisGuard does while Redis is down)."""

    def add(self, key: object) -> bool:  # type: ignore[override]
        return False


async def test_a_guard_that_missed_an_insert_is_detached() -> None:
    db, guard = Db(), FlakyGuard(100, 0.001)
    guard.rebuild(db.rows)
    c = Cache(MemoryBackend(), codec(), namespace="item", guard=guard)
    db.rows[5000] = Item(5000, "new")
    c.inserted(5000)  # the guard could not learn it: trusting it would 404 a real item
    assert c.guard is None
    assert await c.get(5000, db.loader(5000)) == Item(5000, "new")



class _LateLookups(MemoryBackend):
    """A backend whose second lookup answers what it saw when it began (a miss), but only
    once ``release`` is set — by default when the first reader's load is stored: a slow
    round trip on a busy server."""

    def __init__(self, release_on_store: bool = True) -> None:
        super().__init__()
        self.lookups = 0
        self.stored, self.release = asyncio.Event(), asyncio.Event()
        self.release_on_store = release_on_store

    async def get(self, key: str) -> bytes | None:
        self.lookups += 1
        seen = await super().get(key)
        if self.lookups == 2:
            await self.release.wait()
        return seen

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        await super().set(key, value, ttl_s)
        self.stored.set()
        if self.release_on_store:
            self.release.set()


async def test_a_lookup_that_missed_before_the_store_joins_the_load() -> None:
    backend = _LateLookups()
    db, c = Db(delay=0.01), Cache(backend, codec(), namespace="item")
    first, late = await asyncio.gather(c.get(5, db.loader(5)), c.get(5, db.loader(5)))
    assert first == late == Item(5, "item 5")
    assert db.queries == 1 and c.metrics.coalesced == 1


async def test_an_invalidation_stops_late_readers_joining_the_old_load() -> None:
    backend = _LateLookups(release_on_store=False)
    db, c = Db(delay=0.01), Cache(backend, codec(), namespace="item")

    async def rename_after_store() -> None:
        await backend.stored.wait()
        db.rows[5] = Item(5, "renamed")
        c.invalidate(5)
        backend.release.set()  # the late lookup answers its miss only now

    first, late, _ = await asyncio.gather(c.get(5, db.loader(5)), c.get(5, db.loader(5)),
                                          rename_after_store())
    assert first == Item(5, "item 5")
    assert late == Item(5, "renamed") and db.queries == 2
