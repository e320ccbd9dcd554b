"""The in-process stores and token times at their edges, with an injected clock: what the
hot path relies on and the happy-path tests never reach (sweeps, caps, leeways)."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from tests.support.auth import Clock, signing_keys

from bazaar.auth import (
    AccessTokens,
    MemoryNonceStore,
    MemoryRateLimiter,
    RateLimit,
    SigningKeys,
    TokenError,
)


def test_a_sweep_forgets_only_expired_nonces() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock)
    assert all(store.remember_now(f"old-{i}", 10) for i in range(600))
    clock.t += 5
    assert all(store.remember_now(f"live-{i}", 300) for i in range(600))  # sweeps at 1024
    clock.t += 6  # the old ones have expired, the live ones have not
    assert all(store.remember_now(f"more-{i}", 300) for i in range(1500))  # sweeps again
    assert not any(store.remember_now(f"live-{i}", 300) for i in range(600))
    assert all(store.remember_now(f"old-{i}", 300) for i in range(600))


def test_a_full_nonce_store_keeps_the_newest_half() -> None:
    clock = Clock()
    store = MemoryNonceStore(clock=clock, max_entries=1024)
    for i in range(1024):
        clock.t += 0.01
        assert store.remember_now(f"n-{i}", 300)
    # Full of live nonces: the newest half is kept (the oldest are nearest the window's end,
    # where `created` refuses a replay anyway).
    assert not store.remember_now("n-1023", 300)
    assert not store.remember_now("n-600", 300)
    assert store.remember_now("n-0", 300)


def test_a_token_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(RateLimit(rate=1, burst=3), clock=clock)
    assert [limiter.take_now("k").allowed for _ in range(4)] == [True, True, True, False]
    clock.t += 3600  # an hour idle refills to the burst, not to 3,600
    assert [limiter.take_now("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take_now("k")
    assert not refused.allowed and 0 < refused.retry_after <= 1


@pytest.fixture
def keys(tmp_path: Path) -> SigningKeys:
    return signing_keys(tmp_path / "k.db")


def _reason(tokens: AccessTokens, token: str) -> str:
    try:
        tokens.verify(token)
    except TokenError as exc:
        return exc.reason
    return "ok"


def test_token_times_are_checked_with_the_leeway_and_no_more(keys: SigningKeys) -> None:
    issued_at = Clock()
    token, _ = AccessTokens(keys, lifetime=900, clock=issued_at).issue("u", [], "f")
    assert jwt.decode(token, options={"verify_signature": False})["iat"] == int(issued_at.t)

    def verifier_at(t: float) -> AccessTokens:  # a fresh one: no cached claims
        return AccessTokens(keys, lifetime=900, leeway=5, clock=Clock(t))

    start = issued_at.t
    assert _reason(verifier_at(start - 4), token) == "ok"  # a verifier 4 s behind
    assert _reason(verifier_at(start - 6), token) == "not-yet-valid"
    assert _reason(verifier_at(start + 900 + 4), token) == "ok"
    assert _reason(verifier_at(start + 900 + 5), token) == "expired"


def test_a_key_rotated_out_stops_verifying_even_fresh_tokens(keys: SigningKeys) -> None:
    """A leaked old key cannot mint tokens once its own tokens would all have expired."""
    clock = keys._clock
    assert isinstance(clock, Clock)
    leaked_kid, leaked = keys.current()
    keys.rotate()  # at once: the key was compromised
    verifier = AccessTokens(keys, lifetime=900, clock=clock)
    forger = AccessTokens(keys, lifetime=900, clock=clock)

    def forged() -> str:
        now = int(clock.t)
        return jwt.encode({"iss": "bazaar", "aud": "bazaar-api", "sub": "admin", "iat": now,
                           "exp": now + 900, "jti": f"j{now}", "scope": ""}, leaked,
                          algorithm="EdDSA", headers={"kid": leaked_kid})

    assert _reason(verifier, forged()) == "ok"  # inside the keep window, as documented
    clock.t += keys.keep_s + 2
    assert _reason(AccessTokens(keys, lifetime=900, clock=clock), forged()) == "unknown-key"
    assert _reason(forger, forger.issue("u", [], "f")[0]) == "ok"  # the new key signs


def test_a_client_over_its_failure_limit_is_refused_even_with_good_credentials() -> None:
    from bazaar.auth import (
        Authenticator,
        MemoryRevocations,
        RateLimited,
        SignatureError,
        StaticAppKeys,
        sign_request,
    )

    clock = Clock()
    key = b"bzk_edge"
    auth = Authenticator(
        public_origin="https://shop.example",
        apps=StaticAppKeys({"app_1": ((key,), frozenset())}), tokens=None,
        revocations=MemoryRevocations(clock=clock), nonces=MemoryNonceStore(clock=clock),
        limiter=MemoryRateLimiter(RateLimit(1e9, 1e9), clock=clock),
        failed_limiter=MemoryRateLimiter(RateLimit(rate=0.1, burst=2), clock=clock),
        audit=lambda outcome, **fields: None, clock=clock)

    def good() -> dict[str, str]:
        signed = sign_request("GET", "https://shop.example/x", {}, b"", keyid="app_1",
                              secret=key, created=int(clock.t))
        return {k.lower(): v for k, v in signed.items()}

    bad = {**good(), "signature": "sig1=:" + "A" * 43 + "=:"}
    for _ in range(2):
        with pytest.raises(SignatureError):
            auth.authenticate_now("GET", "/x", "", bad, b"", "198.51.100.1")
    with pytest.raises(RateLimited) as third:
        auth.authenticate_now("GET", "/x", "", bad, b"", "198.51.100.1")
    assert third.value.reason == "too-many-failures"
    with pytest.raises(RateLimited) as blocked:  # a valid signature, same address
        auth.authenticate_now("GET", "/x", "", good(), b"", "198.51.100.1")
    assert blocked.value.reason == "too-many-failures" and blocked.value.retry_after > 0
    assert auth.authenticate_now("GET", "/x", "", good(), b"", "198.51.100.2").id == "app_1"
    clock.t += third.value.retry_after + 0.01  # its bucket has a token again
    assert auth.authenticate_now("GET", "/x", "", good(), b"", "198.51.100.1").id == "app_1"
