"""Two-way interoperability with the reference implementation, PyPI ``http-message-signatures``."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    InvalidSignature,
    MappingKeyResolver,
    algorithms,
)

from bazaar.auth import HttpxSigner, SignatureError, SignedRequest, sign_request, verify

KEY = b"bzk_interop-key-0123456789abcdefghij"
RESOLVER = MappingKeyResolver(public_keys={"app_1": KEY}, private_keys={"app_1": KEY})
URLS = ["https://shop.example/orders?x=1&y=two%20words",
        "http://127.0.0.1:8000/products/42",
        "https://shop.example/a/b%2Fc?"]


def _ours(request: httpx.Request) -> SignedRequest:
    parts = urlsplit(str(request.url))
    authority = request.url.host + (f":{request.url.port}" if request.url.port else "")
    return SignedRequest(method=request.method, scheme=request.url.scheme, authority=authority,
                         path=parts.path, query=parts.query,
                         headers={k.lower(): v for k, v in request.headers.items()})


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("body", [b"", b'{"qty": 2}'])
def test_signed_by_the_reference_verified_by_ours(url: str, body: bytes) -> None:
    request = httpx.Request("POST", url, content=body, headers={"content-type": "application/json"})
    HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=RESOLVER).sign(
        request, key_id="app_1", nonce="ref-nonce-1", body=body,
        covered_component_ids=("@method", "@authority", "@path", "@query", "content-type"))
    result = verify(_ours(request), body, lambda k: [KEY] if k == "app_1" else None)
    assert result.keyid == "app_1" and result.nonce == "ref-nonce-1"
    with pytest.raises(SignatureError):
        verify(_ours(request), body + b"!", lambda k: [KEY])


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("body", [b"", b'{"qty": 2}'])
def test_signed_by_ours_verified_by_the_reference(url: str, body: bytes) -> None:
    request = httpx.Request("POST", url, content=body, headers={"content-type": "application/json"})
    request.headers.update(sign_request("POST", url, dict(request.headers), body,
                                        keyid="app_1", secret=KEY))
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                   key_resolver=RESOLVER)
    [result] = verifier.verify(request, body=body, require_components=(
        "@method", "@authority", "@path", "@query", "content-type", "content-digest"))
    assert result.parameters["keyid"] == "app_1"
    assert "nonce" in result.parameters
    request.headers["content-type"] = "text/plain"
    with pytest.raises(InvalidSignature):
        verifier.verify(request, body=body)


def test_our_httpx_auth_is_verified_by_the_reference() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    with httpx.Client(transport=httpx.MockTransport(handler),
                      auth=HttpxSigner("app_1", KEY.decode())) as client:
        client.post("https://shop.example/carts/1/items?fast=1", json={"sku": "A"})
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256,
                                   key_resolver=RESOLVER)
    [result] = verifier.verify(seen[0], body=seen[0].content)
    assert result.parameters["created"] <= int(time.time())
