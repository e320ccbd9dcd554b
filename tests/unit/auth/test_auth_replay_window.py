"""A signed request is single-use for as long as its signature is valid: a replay is refused
at any moment of the window (``created - clock_skew`` … ``created + signature_window``), and
after it the signature itself is too old. The clock is injected: no sleeping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.support.auth import Clock

from bazaar.auth import (
    Authenticator,
    MemoryNonceStore,
    MemoryRateLimiter,
    MemoryRevocations,
    RateLimit,
    SignatureError,
    SignaturePolicy,
    StaticAppKeys,
    sign_request,
)

KEY = b"bzk_replay-window-test-key"
CREATED = 1_800_000_000
MAX_AGE, SKEW = 300.0, 5.0
URL = "https://shop.example/orders?limit=2"


def _authenticator(clock: Clock) -> Authenticator:
    unlimited = RateLimit(1e9, 1e9)
    return Authenticator(
        public_origin="https://shop.example",
        apps=StaticAppKeys({"app_1": ((KEY,), frozenset({"shop:read"}))}), tokens=None,
        revocations=MemoryRevocations(clock=clock), nonces=MemoryNonceStore(clock=clock),
        limiter=MemoryRateLimiter(unlimited, clock=clock),
        failed_limiter=MemoryRateLimiter(unlimited, clock=clock),
        policy=SignaturePolicy(max_age=MAX_AGE, future_skew=SKEW),
        audit=lambda outcome, **fields: None, clock=clock)


def _headers() -> dict[str, str]:
    signed = sign_request("GET", URL, {}, b"", keyid="app_1", secret=KEY, created=CREATED)
    return {k.lower(): v for k, v in signed.items()}


def _send(auth: Authenticator, headers: dict[str, str]) -> str:
    """``ok`` or the refusal's reason."""
    try:
        auth.authenticate_now("GET", "/orders", "limit=2", headers, b"", "203.0.113.9")
    except SignatureError as exc:
        return exc.reason
    return "ok"


@pytest.mark.parametrize("later", [0.0, 0.7, 1.0, 59.0, MAX_AGE, MAX_AGE + SKEW])
def test_a_replay_is_refused_anywhere_inside_the_window(later: float) -> None:
    clock = Clock(CREATED - SKEW)  # first use as early as the window allows
    auth = _authenticator(clock)
    headers = _headers()
    assert _send(auth, headers) == "ok"
    clock.t += later
    assert _send(auth, headers) == "replayed"


@given(first=st.floats(-SKEW, MAX_AGE), gap=st.floats(0, MAX_AGE + SKEW))
def test_every_replay_is_refused_as_replayed_or_expired(first: float, gap: float) -> None:
    clock = Clock(CREATED + first)
    auth = _authenticator(clock)
    headers = _headers()
    assert _send(auth, headers) == "ok"
    clock.t += gap
    # Inside the window the nonce store says no; past it, the signature is too old.
    expected = "replayed" if clock.t - CREATED <= MAX_AGE else "expired"
    assert _send(auth, headers) == expected


def test_the_window_edges_are_where_the_docs_put_them() -> None:
    clock = Clock(CREATED - SKEW - 0.001)
    auth = _authenticator(clock)
    headers = _headers()
    assert _send(auth, headers) == "not-yet-valid"
    clock.t = CREATED + MAX_AGE + 0.001
    assert _send(auth, headers) == "expired"
    clock.t = CREATED + MAX_AGE  # the last valid instant: accepted once, then a replay
    assert _send(auth, headers) == "ok"
    assert _send(auth, headers) == "replayed"
