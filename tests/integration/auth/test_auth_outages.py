"""When Redis goes away, auth fails closed: 503 problem+json with Retry-After, never a 500 and
never a request let through unchecked."""

from __future__ import annotations

import asyncio

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bazaar import localservers
from bazaar.auth import (
    Authenticator,
    AuthMiddleware,
    HttpxSigner,
    RateLimit,
    RedisNonceStore,
    RedisRateLimiter,
    RedisRevocations,
    StaticAppKeys,
)

KEY = "bzk_outage"


def test_a_redis_outage_is_a_503_not_a_500_nor_an_open_door() -> None:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def scenario(server: localservers.LocalServer) -> list[httpx.Response]:
        redis = Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=2)
        authenticator = Authenticator(
            public_origin="http://shop.test",
            apps=StaticAppKeys({"app_1": ((KEY.encode(),), frozenset())}), tokens=None,
            revocations=RedisRevocations(redis), nonces=RedisNonceStore(redis),
            limiter=RedisRateLimiter(redis, RateLimit(100, 100)),
            failed_limiter=RedisRateLimiter(redis, RateLimit(1, 100), prefix="f:"),
            audit=lambda outcome, **fields: None)
        app = AuthMiddleware(Starlette(routes=[Route("/orders", ok)]),
                             authenticator=authenticator)
        responses = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://shop.test",
                                     auth=HttpxSigner("app_1", KEY)) as client:
            responses.append(await client.get("/orders"))
            server.stop()
            responses.append(await client.get("/orders"))
        await redis.aclose()
        return responses

    with localservers.redis() as server:
        before, during = asyncio.run(scenario(server))
    assert before.status_code == 200
    assert during.status_code == 503, during.text
    assert during.headers["content-type"] == "application/problem+json"
    assert during.json()["reason"] == "auth-unavailable"
    assert int(during.headers["retry-after"]) >= 1
