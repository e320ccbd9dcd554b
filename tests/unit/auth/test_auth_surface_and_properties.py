"""The public surface, sign/verify round trips (hypothesis), the audit trail, WebSockets."""

from __future__ import annotations

import asyncio
import inspect
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

import bazaar.auth
from bazaar.auth import (
    Authenticator,
    AuthMiddleware,
    MemoryNonceStore,
    MemoryRateLimiter,
    MemoryRevocations,
    RateLimit,
    SignatureError,
    SignedRequest,
    StaticAppKeys,
    sign_request,
    verify,
)

KEY = b"bzk_property-key"


def test_public_surface_is_what_all_says() -> None:
    public = {name for name in dir(bazaar.auth) if not name.startswith("_")
              and not inspect.ismodule(getattr(bazaar.auth, name))}
    assert public == set(bazaar.auth.__all__)


_segment = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                 exclude_characters="/?#%"), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
       segments=st.lists(_segment, max_size=4),
       query=st.dictionaries(_segment, _segment, max_size=3),
       body=st.binary(max_size=300),
       ctype=st.one_of(st.none(), st.sampled_from(["application/json", "text/plain"])))
def test_whatever_we_sign_verifies_and_any_body_change_is_caught(
        method: str, segments: list[str], query: dict[str, str], body: bytes,
        ctype: str | None) -> None:
    path = "/" + "/".join(quote(s, safe="") for s in segments)
    qs = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
    url = f"https://shop.example{path}" + (f"?{qs}" if qs else "")
    headers = {"content-type": ctype} if ctype else {}
    added = sign_request(method, url, headers, body, keyid="app_1", secret=KEY, created=1000)
    req = SignedRequest(method=method, scheme="https", authority="shop.example", path=path,
                        query=qs, headers={**headers, **{k.lower(): v for k, v in added.items()}})
    assert verify(req, body, lambda k: [KEY], now=1000).keyid == "app_1"  # no false negative
    with pytest.raises(SignatureError) as info:
        verify(req, body + b"x", lambda k: [KEY], now=1000)
    assert info.value.reason == "digest-mismatch"


def _guarded(events: list[dict[str, object]]) -> AuthMiddleware:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["bazaar.principal"].id)
        await websocket.close()

    authenticator = Authenticator(
        public_origin="http://testserver",
        apps=StaticAppKeys({"app_1": ((KEY,), frozenset({"shop:read"}))}), tokens=None,
        revocations=MemoryRevocations(), nonces=MemoryNonceStore(),
        limiter=MemoryRateLimiter(RateLimit(100, 100)),
        failed_limiter=MemoryRateLimiter(RateLimit(1, 100)),
        audit=lambda outcome, **fields: events.append({"outcome": outcome, **fields}))
    app = Starlette(routes=[Route("/orders", ok, methods=["GET", "POST"]),
                            WebSocketRoute("/live", ws)])
    return AuthMiddleware(app, authenticator=authenticator)


def test_every_decision_is_audited_without_secrets() -> None:
    events: list[dict[str, object]] = []
    app = _guarded(events)

    async def go() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://testserver") as client:
            signer = bazaar.auth.HttpxSigner("app_1", KEY.decode())
            assert (await client.post("/orders?x=1", content=b"{}", auth=signer)
                    ).status_code == 200
            assert (await client.get("/orders", headers={"authorization": "Bearer s3cr3t"})
                    ).status_code == 401
            assert (await client.get("/orders")).status_code == 401

    asyncio.run(go())
    assert [e["outcome"] for e in events] == ["allow", "deny", "deny"]
    assert events[0]["principal"] == "app_1" and events[0]["scheme"] == "signature"
    assert events[1]["reason"] == "unsupported-scheme"
    assert events[2]["reason"] == "missing-credentials"
    text = repr(events)
    assert KEY.decode() not in text and "s3cr3t" not in text and "x=1" not in text


def test_websockets_are_guarded_too() -> None:
    events: list[dict[str, object]] = []
    client = TestClient(_guarded(events))
    with pytest.raises(WebSocketDisconnect) as info, client.websocket_connect("/live"):
        pass
    assert info.value.code == 1008
    signed = sign_request("GET", "http://testserver/live", {}, b"", keyid="app_1", secret=KEY)
    with client.websocket_connect("/live", headers=signed) as ws:
        assert ws.receive_text() == "app_1"
