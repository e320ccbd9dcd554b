"""What an access token's checks decide, claim by claim, with an injected clock: the issuer,
the exact edges of expiry and issue time (leeway included), the reason each refusal gives,
absent optional claims, the defaults a shop relies on, and the verified-claims cache when it
is full. (Written to kill mutants ``./dev mutate tokens`` found alive; see docs/testing.md.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import create_engine

from bazaar.auth import AccessTokens, MasterKey, SigningKeys, TokenError, install

T0 = 1_000_000_000.0  # 2001: before the wall clock, so PyJWT's own exp check would refuse


class Clock:
    def __init__(self, t: float = T0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(tmp_path: Path, clock: Clock) -> Iterator[SigningKeys]:
    engine = create_engine(f"sqlite:///{tmp_path / 'auth.db'}")
    install(engine)
    yield SigningKeys(engine, MasterKey.generate(), token_lifetime=900, clock=clock)
    engine.dispose()


def _forge(keys: SigningKeys, **claims: Any) -> str:
    """A token signed with the current key carrying exactly ``claims`` (None: left out)."""
    kid, key = keys.current()
    payload = {"iss": "bazaar", "aud": "bazaar-api", "sub": "7", "iat": int(T0),
               "exp": int(T0) + 900, "jti": "j" * 32, "fid": "f1", "scope": "shop:read"}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key,
                      algorithm="EdDSA", headers={"kid": kid})


def _reason(tokens: AccessTokens, token: str) -> str:
    with pytest.raises(TokenError) as info:
        tokens.verify(token)
    return info.value.reason


def test_the_defaults_a_shop_relies_on(keys: SigningKeys, clock: Clock) -> None:
    tokens = AccessTokens(keys, clock=clock)
    token, claims = tokens.issue("7", ["shop:read"], "fam")
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["iss"] == "bazaar" and payload["aud"] == "bazaar-api"
    assert claims.exp - claims.iat == 900 == payload["exp"] - payload["iat"]
    assert len(claims.jti) == 32 and int(claims.jti, 16) >= 0
    # The default leeway is 5 s: valid up to exp + 5, refused from there on.
    clock.t = claims.exp + 4.9
    assert tokens.verify(token) == claims
    fresh = AccessTokens(keys, clock=clock)  # no cache: the slow path decides
    assert fresh.verify(token) == claims
    clock.t = claims.exp + 5
    assert _reason(AccessTokens(keys, clock=clock), token) == "expired"
    with pytest.raises(ValueError, match="audience"):
        AccessTokens(keys, audience="")


def test_a_token_verifies_on_our_clock_not_the_wall_clock(keys: SigningKeys,
                                                          clock: Clock) -> None:
    tokens = AccessTokens(keys, clock=clock)
    token, _ = tokens.issue("7", ["shop:read"], "fam")  # exp in 2001
    assert tokens.verify(token).sub == "7"


def test_expiry_and_issue_time_edges_with_the_leeway(keys: SigningKeys, clock: Clock) -> None:
    token = _forge(keys)
    exp, iat = int(T0) + 900, int(T0)
    for now, ok in [(exp + 2.999, True), (exp + 3, False), (exp + 3.001, False),
                    (iat - 3, True), (iat - 3.001, False)]:
        clock.t = now
        tokens = AccessTokens(keys, clock=clock, leeway=3.0)
        if ok:
            assert tokens.verify(token).sub == "7", now
        else:
            assert _reason(tokens, token) == ("expired" if now > iat else "not-yet-valid"), now
    # A cached token expires on the same edge.
    clock.t = T0
    tokens = AccessTokens(keys, clock=clock, leeway=3.0)
    tokens.verify(token)
    clock.t = exp + 2.999
    assert tokens.verify(token).sub == "7"
    clock.t = exp + 3
    assert _reason(tokens, token) == "expired"


def test_each_refusal_names_its_reason(keys: SigningKeys, clock: Clock) -> None:
    tokens = AccessTokens(keys, clock=clock)
    assert _reason(tokens, "not.a.jwt") == "malformed-token"
    assert _reason(tokens, _forge(keys, iss="someone-else")) == "malformed-token"
    assert _reason(tokens, _forge(keys, jti=None)) == "malformed-token"  # a required claim
    assert _reason(tokens, _forge(keys, iat="soon")) == "malformed-token"  # not a number
    assert _reason(tokens, _forge(keys, aud="another-api")) == "wrong-audience"
    assert _reason(tokens, _forge(keys, aud=None)) == "wrong-audience"
    assert _reason(tokens, _forge(keys, iat=int(T0) + 60)) == "not-yet-valid"
    assert _reason(tokens, _forge(keys, exp=int(T0) - 60)) == "expired"
    with pytest.raises(TokenError) as info:
        tokens.verify(_forge(keys, iss="someone-else"))
    assert info.value.detail == "the token's claims are invalid"


def test_a_token_from_another_issuer_is_refused_even_when_signed_with_our_key(
        keys: SigningKeys, clock: Clock) -> None:
    other = AccessTokens(keys, issuer="elsewhere", clock=clock)
    token, _ = other.issue("7", ["shop:admin"], "fam")
    assert _reason(AccessTokens(keys, clock=clock), token) == "malformed-token"
    assert other.verify(token).scopes == {"shop:admin"}


def test_absent_optional_claims_read_as_empty(keys: SigningKeys, clock: Clock) -> None:
    claims = AccessTokens(keys, clock=clock).verify(_forge(keys, scope=None, fid=None))
    assert claims.scopes == frozenset() and claims.fid == ""


def test_a_full_cache_drops_expired_claims_and_keeps_verifying(keys: SigningKeys,
                                                               clock: Clock) -> None:
    tokens = AccessTokens(keys, clock=clock, cache_size=2, lifetime=60)
    first, _ = tokens.issue("1", [], "f")
    tokens.verify(first)
    clock.t += 100  # the first has expired
    live = [tokens.issue(str(n), [], "f")[0] for n in (2, 3, 4)]
    assert [tokens.verify(t).sub for t in live] == ["2", "3", "4"]
    assert [tokens.verify(t).sub for t in live] == ["2", "3", "4"]  # cached or not: the same
    assert _reason(tokens, first) == "expired"
