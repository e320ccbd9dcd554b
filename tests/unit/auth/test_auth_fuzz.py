"""Malformed Signature / Signature-Input / Content-Digest of any shape: a typed 401, never a crash.

Fuzzed twice: against the pure verifier (only SignatureError may come out) and through the ASGI
middleware in front of a real Starlette app (always 401 problem+json with a ``reason``).
"""

from __future__ import annotations

import asyncio
import json

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

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

KEY = b"bzk_fuzz-key"
NOW = 1_800_000_000
VALID = sign_request("POST", "https://shop.example/orders?x=1", {"content-type": "text/plain"},
                     b"hello", keyid="app_1", secret=KEY, created=NOW, nonce="abc")
# Characters a header can carry (latin-1, no CR/LF), weighted towards structured-field syntax.
_SYNTAX = st.sampled_from(list('=:;,()"\\ ?*-_.@0123456789abcdefsigkyndoparmtAZ+/\t'))
_ANY = st.characters(min_codepoint=0x20, max_codepoint=0xFF)
header_text = st.text(st.one_of(_SYNTAX, _ANY), max_size=200)


@st.composite
def mutated(draw: st.DrawFn, original: str) -> str:
    """A valid header with a few characters inserted, deleted or replaced."""
    text = list(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["ins", "del", "rep"]))
        i = draw(st.integers(0, len(text)))
        c = draw(st.one_of(_SYNTAX, _ANY))
        if op == "ins":
            text.insert(i, c)
        elif text and i < len(text):
            if op == "del":
                del text[i]
            else:
                text[i] = c
    return "".join(text)


def _field(name: str) -> st.SearchStrategy[str]:
    return st.one_of(header_text, mutated(VALID[name]), st.just(VALID[name]))


def _request(si: str, sig: str, digest: str) -> SignedRequest:
    return SignedRequest(method="POST", scheme="https", authority="shop.example", path="/orders",
                         query="x=1", headers={"content-type": "text/plain",
                                               "signature-input": si, "signature": sig,
                                               "content-digest": digest})


@settings(max_examples=1500, deadline=None)
@given(_field("Signature-Input"), _field("Signature"), _field("Content-Digest"))
def test_the_verifier_only_ever_raises_signature_error(si: str, sig: str, digest: str) -> None:
    try:
        verify(_request(si, sig, digest), b"hello", lambda k: [KEY] if k == "app_1" else None,
               now=NOW)
    except SignatureError as exc:
        assert exc.reason and exc.reason.replace("-", "").isalpha()
        assert KEY.decode() not in str(exc)
    else:  # labels and spacing are not signed; what is signed must be the original
        from bazaar.auth._sfv import parse_content_digest, parse_signature_input

        original = parse_signature_input(VALID["Signature-Input"])
        assert parse_signature_input(si).params_text == original.params_text
        assert parse_content_digest(digest)["sha-256"] == parse_content_digest(
            VALID["Content-Digest"])["sha-256"]


def _app() -> AuthMiddleware:
    async def ok(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    authenticator = Authenticator(
        public_origin="https://shop.example",
        apps=StaticAppKeys({"app_1": ((KEY,), frozenset({"orders"}))}), tokens=None,
        revocations=MemoryRevocations(), nonces=MemoryNonceStore(),
        limiter=MemoryRateLimiter(RateLimit(1e9, 1e9)),
        failed_limiter=MemoryRateLimiter(RateLimit(1e9, 1e9)),
        audit=lambda outcome, **fields: None, clock=lambda: NOW)
    return AuthMiddleware(Starlette(routes=[Route("/orders", ok, methods=["POST"])]),
                          authenticator=authenticator)


APP = _app()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_field("Signature-Input"), _field("Signature"), _field("Content-Digest"),
       st.booleans())
def test_the_middleware_answers_malformed_headers_with_401_problem(
        si: str, sig: str, digest: str, bearer: bool) -> None:
    fields = {"content-type": "text/plain", "signature-input": si, "signature": sig,
              "content-digest": digest}
    if bearer:
        fields = {"authorization": "Bearer " + si}
    else:
        try:
            verify(_request(si, sig, digest), b"hello", lambda k: [KEY], now=NOW)
            return  # a harmless mutation (label, spacing) that still verifies
        except SignatureError:
            pass
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in fields.items()]

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=APP),
                                     base_url="https://shop.example") as client:
            return await client.post("/orders?x=1", content=b"hello", headers=headers)

    response = asyncio.run(call())
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    problem = json.loads(response.content)
    assert problem["status"] == 401 and problem["reason"]
