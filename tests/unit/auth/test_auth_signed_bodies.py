"""A signed request's body: not read when HTTP/1.x says there is none, read (and checked
against Content-Digest, then handed on unchanged) when there is one — whatever the framing."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

from bazaar.auth import (
    Authenticator,
    AuthMiddleware,
    MemoryNonceStore,
    MemoryRateLimiter,
    MemoryRevocations,
    RateLimit,
    StaticAppKeys,
    sign_request,
)

KEY = b"bzk_bodies-key"
URL = "http://testserver/orders"


def _middleware(seen: list[bytes]) -> AuthMiddleware:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(body)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    authenticator = Authenticator(
        public_origin="http://testserver",
        apps=StaticAppKeys({"app_1": ((KEY,), frozenset({"shop:read"}))}), tokens=None,
        revocations=MemoryRevocations(), nonces=MemoryNonceStore(),
        limiter=MemoryRateLimiter(RateLimit(100, 100)),
        failed_limiter=MemoryRateLimiter(RateLimit(1, 100)),
        audit=lambda outcome, **fields: None)
    return AuthMiddleware(app, authenticator=authenticator)


def _call(mw: AuthMiddleware, method: str, signed_body: bytes, chunks: list[bytes],
          extra: dict[str, str], http_version: str = "1.1") -> tuple[int, bytes]:
    headers = {**sign_request(method, URL, {}, signed_body, keyid="app_1", secret=KEY),
               **extra}
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
                for i, c in enumerate(chunks or [b""])]
    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "http_version": http_version, "method": method,
             "path": "/orders", "raw_path": b"/orders", "query_string": b"",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000)}
    asyncio.run(mw(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_a_bodiless_signed_get_is_accepted_without_reading() -> None:
    seen: list[bytes] = []
    assert _call(_middleware(seen), "GET", b"", [], {})[0] == 200
    assert seen == [b""]


def test_a_digest_for_a_body_that_was_not_sent_is_refused() -> None:
    seen: list[bytes] = []
    status, body = _call(_middleware(seen), "GET", b"sneaky", [], {})
    assert status == 401 and b"digest-mismatch" in body and seen == []


def test_a_chunked_or_http2_body_is_read_checked_and_handed_on() -> None:
    seen: list[bytes] = []
    mw = _middleware(seen)
    chunked = {"transfer-encoding": "chunked"}
    assert _call(mw, "POST", b'{"a": 1}', [b'{"a"', b": 1}"], chunked)[0] == 200
    assert _call(mw, "POST", b'{"a": 1}', [b'{"a": 1}'], {}, http_version="2")[0] == 200
    assert seen == [b'{"a": 1}', b'{"a": 1}']
    status, body = _call(mw, "POST", b'{"a": 1}', [b'{"a": 2}'], chunked)
    assert status == 401 and b"digest-mismatch" in body and len(seen) == 2
