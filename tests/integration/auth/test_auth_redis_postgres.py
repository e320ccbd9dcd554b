"""Nonces, rate limits and revocations in a real Redis; auth's tables on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from redis.asyncio import Redis
from sqlalchemy import Engine, create_engine

from bazaar import localservers
from bazaar.auth import (
    AppRegistry,
    Authenticator,
    MasterKey,
    MemoryRevocations,
    RateLimit,
    RedisNonceStore,
    RedisRateLimiter,
    RedisRevocations,
    RefreshTokens,
    SignatureError,
    StaticAppKeys,
    TokenError,
    install,
    sign_request,
)

_n = itertools.count()


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _with_redis(url: str, fn):  # type: ignore[no-untyped-def]
    redis = Redis.from_url(url)
    try:
        return await fn(redis)
    finally:
        await redis.aclose()


def test_redis_nonces_are_single_use_under_concurrency(
        redis_server: localservers.LocalServer) -> None:
    async def go(redis: Redis) -> list[bool]:
        store = RedisNonceStore(redis, prefix=f"t{next(_n)}:")
        results = await asyncio.gather(*(store.remember("app:n1", 300) for _ in range(50)))
        ttl = await redis.ttl(f"t{next(_n) - 1}:app:n1")
        assert 0 < ttl <= 300
        return list(results)

    results = _run(_with_redis(redis_server.url, go))
    assert results.count(True) == 1


def test_redis_token_bucket_limits_and_reports_retry_after(
        redis_server: localservers.LocalServer) -> None:
    async def go(redis: Redis) -> None:
        # 1 token per 100 s: no refill can sneak in while the test runs, however slow.
        limiter = RedisRateLimiter(redis, RateLimit(rate=0.01, burst=5), prefix=f"b{next(_n)}:")
        decisions = await asyncio.gather(*(limiter.take("app:x") for _ in range(8)))
        assert [d.allowed for d in decisions].count(True) == 5
        refused = [d for d in decisions if not d.allowed]
        assert all(0 < d.retry_after <= 100.0 for d in refused)
        assert not (await limiter.take("app:x", 0)).allowed  # peeking takes nothing
        assert (await limiter.take("app:y")).allowed  # buckets are per principal

    _run(_with_redis(redis_server.url, go))


def test_redis_revocations_are_seen_by_every_instance(
        redis_server: localservers.LocalServer) -> None:
    async def go(redis: Redis) -> None:
        prefix = f"r{next(_n)}:"
        one, two = RedisRevocations(redis, prefix=prefix), RedisRevocations(redis, prefix=prefix)
        assert not await two.any_revoked("jti-1")
        await one.add("jti-1", until=time.time() + 60)
        assert await two.any_revoked("other", "jti-1")

    _run(_with_redis(redis_server.url, go))


def test_a_nonce_used_at_one_server_is_a_replay_at_another(
        redis_server: localservers.LocalServer) -> None:
    key = b"bzk_shared"
    headers = sign_request("GET", "http://shop.test/products/1", {}, b"", keyid="app_1",
                           secret=key)
    lower = {k.lower(): v for k, v in headers.items()}

    run = next(_n)

    async def go(redis: Redis) -> None:
        def server() -> Authenticator:
            return Authenticator(
                public_origin="http://shop.test",
                apps=StaticAppKeys({"app_1": ((key,), frozenset())}), tokens=None,
                revocations=MemoryRevocations(),
                nonces=RedisNonceStore(redis, prefix=f"x{run}:"),
                limiter=RedisRateLimiter(redis, RateLimit(100, 100), prefix=f"xl{run}:"),
                failed_limiter=RedisRateLimiter(redis, RateLimit(1, 100), prefix=f"xf{run}:"),
                audit=lambda outcome, **f: None)

        a, b = server(), server()
        principal = await a.authenticate("GET", "/products/1", "", lower, b"")
        assert principal.kind == "app" and principal.id == "app_1"
        # Redis keeps the nonce for the whole window (300 s + 5 s skew), not less.
        nonce = lower["signature-input"].split('nonce="')[1].split('"')[0]
        assert await redis.ttl(f"x{run}:app_1:{nonce}") >= 305
        with pytest.raises(SignatureError) as info:
            await b.authenticate("GET", "/products/1", "", lower, b"")
        assert info.value.reason == "replayed"

    _run(_with_redis(redis_server.url, go))


@pytest.fixture(scope="module")
def pg_engine(postgres_server: localservers.LocalServer) -> Iterator[Engine]:
    name = f"auth_{next(_n)}"
    admin = postgres_server.extra["dsn"].rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = create_engine(
        f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/{name}")
    install(engine)
    install(engine)
    yield engine
    engine.dispose()


def test_apps_on_postgresql(pg_engine: Engine) -> None:
    registry = AppRegistry(pg_engine, MasterKey.generate())
    issued = registry.create(f"pg-app-{next(_n)}", ["shop:read"])
    rotated = registry.rotate(issued.app_id)
    assert len(registry.secrets(issued.app_id) or ()) == 2
    registry.revoke(issued.app_id, issued.key_id)
    assert registry.secrets(issued.app_id) == (rotated.api_key.reveal().encode(),)


def test_refresh_reuse_race_on_postgresql_has_one_winner(pg_engine: Engine) -> None:
    refresh = RefreshTokens(pg_engine)
    _, token = refresh.start_family("user-1", ["shop:read"])
    outcomes: list[str] = []
    won: list[str] = []
    barrier = threading.Barrier(4)

    def attempt() -> None:
        barrier.wait()
        try:
            won.append(refresh.rotate(token).refresh_token)
            outcomes.append("ok")
        except TokenError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 4
    assert outcomes.count("ok") == 1, outcomes  # one winner: not zero, not two
    assert set(outcomes) - {"ok"} <= {"refresh-reuse", "revoked"}
    assert "refresh-reuse" in outcomes
    # The losers' reuse revoked the family: the winner's new token is dead too.
    with pytest.raises(TokenError) as info:
        refresh.rotate(won[0])
    assert info.value.reason == "revoked"
