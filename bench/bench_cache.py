"""bazaar.cache overhead: a cache-aside hit vs the raw client's GET, per backend; and what a
request for an id that cannot exist costs with each defence vs a PostgreSQL primary-key read.

All against real servers (Redis, Memcached, PostgreSQL) started for the run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import psycopg
import redis.asyncio as aioredis
from pymemcache.client.base import Client as MemcacheClient

from bazaar import localservers
from bazaar.cache import (
    Backend,
    Cache,
    CachePolicy,
    LocalGuard,
    MemoryBackend,
    MsgpackCodec,
    backend_from_url,
)

# A product row as the shop caches it (plain values; bench/run.py loads this file without
# registering it as a module, so no dataclass here).
Product = dict[str, object]
ROW: Product = {"id": 1, "sku": "SKU-1", "name": "A product with a name",
                "price_cents": 1999, "stock": 7}


async def _timed(fn: Callable[[], Awaitable[object]], n: int) -> float:
    for _ in range(min(200, n)):
        await fn()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            await fn()
        best = min(best, (time.perf_counter() - started) / n)
    return best * 1e6


def _cache(backend: Backend, **policy: object) -> Cache[Product]:
    return Cache(backend, MsgpackCodec(), namespace="b",
                 policy=CachePolicy(**policy))  # type: ignore[arg-type]


async def _load() -> Product | None:
    return ROW


async def _missing() -> Product | None:
    return None


async def run(n: int, redis_url: str, mc: localservers.LocalServer, dsn: str) -> None:
    print(f"{'backend':10s} {'raw GET us':>11s} {'Cache.get hit us':>17s} {'overhead':>9s}")
    memory = MemoryBackend()
    await memory.set("raw", b"v" + MsgpackCodec[Product]().encode(ROW), 60)
    raw_redis = aioredis.Redis.from_url(redis_url)
    await raw_redis.set("raw", b"x" * 60)
    mc_client = MemcacheClient((mc.host, mc.port), no_delay=True)
    mc_client.set("raw", b"x" * 60)
    raws: dict[str, Callable[[], Awaitable[object]]] = {
        "memory": lambda: memory.get("raw"),
        "redis": lambda: raw_redis.get("raw"),
        "memcached": lambda: asyncio.to_thread(mc_client.get, "raw"),
    }
    backends: dict[str, Backend] = {"memory": memory, "redis": backend_from_url(redis_url),
                                    "memcached": backend_from_url(mc.url)}
    for name, backend in backends.items():
        cache = _cache(backend)
        await cache.get(1, _load)
        raw = await _timed(raws[name], n)
        hit = await _timed(lambda c=cache: c.get(1, _load), n)  # type: ignore[misc]
        print(f"{name:10s} {raw:11.2f} {hit:17.2f} {hit - raw:+8.2f}")
    if name == "memcached":
        print("(memcached raw GET is timed through asyncio.to_thread, as Cache uses it)")

    print("\na request for an id that cannot exist (Redis cache), us per request:")
    guard = LocalGuard(10_000, 0.001)
    guard.rebuild(range(1, 10_001))
    redis_backend = backends["redis"]
    guarded = _cache(redis_backend)
    guarded.guard = guard
    null_cached = _cache(redis_backend)
    await null_cached.get(999_999, _missing)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO products SELECT g, 'p' || g FROM generate_series(1, 10000) g "
                     "ON CONFLICT DO NOTHING")
        started = time.perf_counter()
        for i in range(n):
            conn.execute("SELECT id, name FROM products WHERE id = %s", (1_000_000 + i,))
        pg = (time.perf_counter() - started) / n * 1e6
    bloom = await _timed(lambda: guarded.get(999_999, _missing), n)
    null = await _timed(lambda: null_cached.get(999_999, _missing), n)
    print(f"  Bloom guard rejection        {bloom:8.2f}")
    print(f"  null-cache hit (Redis GET)   {null:8.2f}   ({null / bloom:.0f}x the guard)")
    print(f"  PostgreSQL PK miss (psycopg) {pg:8.2f}   ({pg / bloom:.0f}x the guard)")
    await raw_redis.aclose()
    for backend in backends.values():
        await backend.aclose()
    mc_client.close()


def main(quick: bool) -> None:
    n = 3_000 if quick else 30_000
    with localservers.redis() as rs, localservers.memcached() as mc, \
            localservers.postgres() as pg:
        asyncio.run(run(n, rs.url, mc, pg.extra["dsn"]))


if __name__ == "__main__":
    main(quick=True)
