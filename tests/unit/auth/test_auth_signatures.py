"""Signing and verifying our profile: tamper matrix, windows, policy, key rotation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from bazaar.auth import SignatureError, SignaturePolicy, SignedRequest, sign_request, verify

KEY = b"bzk_unit-test-key-0123456789abcdef"
NOW = 1_800_000_000


def _signed(method: str = "POST", url: str = "https://shop.example/orders?x=1&y=2",
            body: bytes = b'{"sku": "A1"}', ctype: str | None = "application/json",
            created: int = NOW, nonce: str = "n-1", key: bytes = KEY
            ) -> tuple[SignedRequest, bytes]:
    headers = {"content-type": ctype} if ctype else {}
    added = sign_request(method, url, headers, body, keyid="app_1", secret=key,
                         created=created, nonce=nonce)
    parts = urlsplit(url)
    all_headers = {**headers, **{k.lower(): v for k, v in added.items()}}
    return SignedRequest(method=method, scheme="https", authority="shop.example",
                         path=parts.path, query=parts.query, headers=all_headers), body


def _keys(keyid: str) -> list[bytes] | None:
    return [KEY] if keyid == "app_1" else None


def _reason(req: SignedRequest, body: bytes | None, now: float = NOW, **policy: object) -> str:
    with pytest.raises(SignatureError) as info:
        verify(req, body, _keys, policy=SignaturePolicy(**policy), now=now)  # type: ignore[arg-type]
    return info.value.reason


def test_a_signed_request_verifies_and_names_its_signer() -> None:
    req, body = _signed()
    result = verify(req, body, _keys, now=NOW)
    assert (result.keyid, result.nonce, result.created) == ("app_1", "n-1", NOW)
    assert set(result.components) >= {"@method", "@authority", "@path", "@query",
                                      "content-type", "content-digest"}


def test_a_get_without_body_or_content_type_verifies() -> None:
    req, body = _signed(method="GET", url="https://shop.example/products/7", body=b"", ctype=None)
    assert verify(req, body, _keys, now=NOW).keyid == "app_1"


@pytest.mark.parametrize(("change", "reason"), [
    ({"method": "PUT"}, "bad-signature"),
    ({"path": "/orders/2"}, "bad-signature"),
    ({"query": "x=1&y=3"}, "bad-signature"),
    ({"authority": "evil.example"}, "bad-signature"),
])
def test_tampering_with_the_request_line_is_refused(change: dict[str, str], reason: str) -> None:
    req, body = _signed()
    assert _reason(req._replace(**change), body) == reason  # type: ignore[arg-type]


def test_tampering_with_the_body_is_a_digest_mismatch() -> None:
    req, _ = _signed()
    assert _reason(req, b'{"sku": "B2"}') == "digest-mismatch"


def test_tampering_with_a_covered_header_is_refused() -> None:
    req, body = _signed()
    headers = {**req.headers, "content-type": "text/plain"}
    assert _reason(req._replace(headers=headers), body) == "bad-signature"


def test_tampering_with_the_digest_header_is_refused() -> None:
    req, _ = _signed()
    other, _ = _signed(body=b"other")
    headers = {**req.headers, "content-digest": other.headers["content-digest"]}
    assert _reason(req._replace(headers=headers), b"other") == "bad-signature"


def test_tampering_with_the_timestamp_is_refused() -> None:
    req, body = _signed()
    si = req.headers["signature-input"].replace(f"created={NOW}", f"created={NOW + 1}")
    assert _reason(req._replace(headers={**req.headers, "signature-input": si}),
                   body, now=NOW) == "bad-signature"


def test_an_old_signature_expires_and_a_future_one_is_not_yet_valid() -> None:
    req, body = _signed(created=NOW - 301)
    assert _reason(req, body) == "expired"
    verify(_signed(created=NOW - 299)[0], body, _keys, now=NOW)
    assert _reason(_signed(created=NOW + 6)[0], body) == "not-yet-valid"
    verify(_signed(created=NOW + 4)[0], body, _keys, now=NOW)


def test_unknown_keyid_and_wrong_key() -> None:
    req, body = _signed(key=b"another key")
    assert _reason(req, body) == "bad-signature"
    other = req._replace(headers={
        **req.headers, "signature-input": req.headers["signature-input"].replace("app_1", "app_2")})
    assert _reason(other, body) == "unknown-key"


def test_either_of_two_active_keys_verifies() -> None:
    req, body = _signed(key=b"new key")
    result = verify(req, body, lambda k: [KEY, b"new key"], now=NOW)
    assert result.key_index == 1


def test_policy_requires_nonce_and_components() -> None:
    req, body = _signed()
    no_nonce = req.headers["signature-input"].replace(';nonce="n-1"', "")
    assert _reason(req._replace(headers={**req.headers, "signature-input": no_nonce}),
                   body) == "missing-nonce"
    fewer = req.headers["signature-input"].replace('"@query" ', "")
    assert _reason(req._replace(headers={**req.headers, "signature-input": fewer}),
                   body) == "missing-component"


def test_content_type_must_be_covered_when_present() -> None:
    req, body = _signed(ctype=None)
    headers = {**req.headers, "content-type": "application/json"}
    assert _reason(req._replace(headers=headers), body) == "missing-component"


def test_missing_headers_and_wrong_algorithm() -> None:
    req, body = _signed()
    bare = {k: v for k, v in req.headers.items() if k != "signature"}
    assert _reason(req._replace(headers=bare), body) == "missing-signature"
    alg = req.headers["signature-input"] + ';alg="rsa-pss-sha512"'
    assert _reason(req._replace(headers={**req.headers, "signature-input": alg}),
                   body) == "unsupported-algorithm"


def test_sign_request_refuses_relative_urls_and_bad_keyids() -> None:
    with pytest.raises(ValueError):
        sign_request("GET", "/relative", {}, b"", keyid="a", secret=KEY)
    with pytest.raises(ValueError):
        sign_request("GET", "https://x.example/", {}, b"", keyid='a"b', secret=KEY)
