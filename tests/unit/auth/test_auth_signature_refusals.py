"""Each refusal of a signed request names its reason, and the ``expires`` edge honours the
allowed clock skew exactly. The checks run before any MAC, so a hand-written
``Signature-Input`` reaches each one. (Written against survivors of ``./dev mutate
signatures``; see docs/testing.md.)"""

from __future__ import annotations

import pytest

from bazaar.auth import SignatureError, SignaturePolicy
from bazaar.auth._signatures import SignedRequest, verify

NOW = 1_800_000_000
MAC = "sig1=:" + "A" * 43 + "=:"
POLICY = SignaturePolicy(max_age=300.0, future_skew=5.0)


def _reason(params: str, now: float = NOW, policy: SignaturePolicy = POLICY) -> str:
    req = SignedRequest(method="GET", scheme="https", authority="shop.example", path="/orders",
                        query="", headers={"signature-input": f'sig1=("@method"){params}',
                                           "signature": MAC})
    with pytest.raises(SignatureError) as info:
        verify(req, b"", lambda k: [b"k"], policy=policy, now=now)
    return info.value.reason


def test_each_refusal_names_its_reason() -> None:
    assert _reason(f';created={NOW};nonce="n"') == "missing-keyid"
    assert _reason(';keyid="app_1";nonce="n"') == "missing-created"
    assert _reason(f';keyid="app_1";created={NOW}') == "missing-nonce"
    assert _reason(f';keyid="app_1";created={NOW + 6};nonce="n"') == "not-yet-valid"
    assert _reason(f';keyid="app_1";created={NOW - 301};nonce="n"') == "expired"
    assert _reason(f';keyid="app_1";created={NOW};nonce="n";alg="hmac-sha512"') == (
        "unsupported-algorithm")
    req = SignedRequest(method="GET", scheme="https", authority="shop.example", path="/",
                        query="", headers={})
    with pytest.raises(SignatureError) as info:
        verify(req, b"", lambda k: [b"k"], policy=POLICY, now=NOW)
    assert info.value.reason == "missing-signature"


def test_expires_passes_only_beyond_the_allowed_skew() -> None:
    base = f';keyid="app_1";created={NOW - 10};nonce="n";expires='
    # Expired 5 s ago: within the 5 s skew, so on to the next check (the covered components).
    assert _reason(base + str(NOW - 5)) == "missing-component"
    assert _reason(base + str(NOW - 6)) == "expired"
    assert _reason(base + str(NOW + 60)) == "missing-component"
