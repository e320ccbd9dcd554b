"""Access tokens, the signing keyring, refresh families, revocation — on a real SQLite file."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from tests.support.auth import Clock, auth_engine

from bazaar.auth import (
    AccessTokens,
    MasterKey,
    MemoryRevocations,
    RefreshTokens,
    SigningKeys,
    TokenError,
    install,
)
from bazaar.auth._tables import signing_keys


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = auth_engine(tmp_path / "auth.db")
    install(engine)  # idempotent
    return engine


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(engine, clock: Clock) -> SigningKeys:  # type: ignore[no-untyped-def]
    return SigningKeys(engine, MasterKey.generate(), token_lifetime=900, clock=clock)


@pytest.fixture
def tokens(keys: SigningKeys, clock: Clock) -> AccessTokens:
    return AccessTokens(keys, lifetime=900, leeway=5, clock=clock)


def _reason(tokens: AccessTokens, token: str) -> str:
    with pytest.raises(TokenError) as info:
        tokens.verify(token)
    return info.value.reason


def test_issue_and_verify_carry_the_standard_claims(tokens: AccessTokens) -> None:
    token, claims = tokens.issue("user-7", ["orders:read", "cart"], "fam-1")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"]
    payload = jwt.decode(token, options={"verify_signature": False})
    assert {"exp", "iat", "jti", "sub", "scope", "iss"} <= payload.keys()
    assert payload["exp"] - payload["iat"] == 900
    verified = tokens.verify(token)
    assert verified == claims and verified.scopes == {"orders:read", "cart"}


def test_an_expired_token_is_refused_even_from_the_cache(tokens: AccessTokens,
                                                         clock: Clock) -> None:
    token, _ = tokens.issue("u", [], "f")
    tokens.verify(token)  # now cached
    clock.t += 906
    assert _reason(tokens, token) == "expired"
    other = AccessTokens(tokens._keys, lifetime=900, leeway=5, clock=clock)  # uncached path
    assert _reason(other, token) == "expired"


def test_alg_none_and_hs256_confusion_are_refused(tokens: AccessTokens,
                                                  keys: SigningKeys) -> None:
    token, _ = tokens.issue("u", [], "f")
    payload = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    none = jwt.encode(payload, None, algorithm="none", headers={"kid": kid})
    assert _reason(tokens, none) == "wrong-algorithm"
    # HS256 keyed with our *public* key: the classic confusion attack.
    public = keys.public_key(kid)
    assert public is not None
    pem = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": kid}).encode())
    import hashlib
    import hmac

    body = base64.urlsafe_b64encode(json.dumps(payload).encode())
    signing_input = header.rstrip(b"=") + b"." + body.rstrip(b"=")
    mac = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest())
    forged = (signing_input + b"." + mac.rstrip(b"=")).decode()
    assert _reason(tokens, forged) == "wrong-algorithm"


def test_malformed_forged_and_foreign_tokens(tokens: AccessTokens) -> None:
    assert _reason(tokens, "not.a.jwt") == "malformed-token"
    assert _reason(tokens, "") == "malformed-token"
    token, _ = tokens.issue("u", [], "f")
    head, body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    assert _reason(tokens, f"{head}.{body}.{flipped}") == "bad-signature"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    foreign = jwt.encode({"sub": "u"}, Ed25519PrivateKey.generate(), algorithm="EdDSA",
                         headers={"kid": "someone-elses"})
    assert _reason(tokens, foreign) == "unknown-key"


def test_rotation_keeps_old_tokens_valid_until_they_expire(tokens: AccessTokens,
                                                           keys: SigningKeys,
                                                           clock: Clock) -> None:
    old, _ = tokens.issue("u", [], "f")
    old_kid = jwt.get_unverified_header(old)["kid"]
    clock.t += 1
    new_kid = keys.rotate()
    new, _ = tokens.issue("u", [], "f")
    assert jwt.get_unverified_header(new)["kid"] == new_kid != old_kid
    fresh = AccessTokens(keys, lifetime=900, clock=clock)
    assert fresh.verify(old).sub == "u"
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, new_kid}
    # Published for the recheck interval + the lifetime + the leeway after it retired.
    assert keys.keep_s == 1 + 900 + 5
    clock.t += keys.keep_s - 0.5
    assert {k["kid"] for k in keys.jwks()["keys"]} == {old_kid, new_kid}
    clock.t += 1  # every token the old key may have signed has expired
    assert {k["kid"] for k in keys.jwks()["keys"]} == {new_kid}


def test_a_rotation_made_by_another_process_is_followed_within_the_recheck(
        engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    master = MasterKey.generate()
    shop = SigningKeys(engine, master, token_lifetime=900, recheck_s=2.0, clock=clock)
    tokens = AccessTokens(shop, lifetime=900, clock=clock)
    old, _ = tokens.issue("u", [], "f")
    old_kid = jwt.get_unverified_header(old)["kid"]
    cli = SigningKeys(engine, master, token_lifetime=900, clock=clock)  # `auth keys rotate`
    clock.t += 1
    new_kid = cli.rotate()
    assert new_kid != old_kid
    # Within the recheck interval the shop may still sign with the retired key...
    late, _ = tokens.issue("u", [], "f")
    assert jwt.get_unverified_header(late)["kid"] == old_kid
    clock.t += 1  # ...and not after it: one indexed lookup found the new kid
    fresh, _ = tokens.issue("u", [], "f")
    assert jwt.get_unverified_header(fresh)["kid"] == new_kid
    # The late token is still published for and verified by everyone until it expires.
    verifier = AccessTokens(cli, lifetime=900, clock=clock)
    assert verifier.verify(late).sub == "u" and verifier.verify(fresh).sub == "u"
    clock.t += 900
    assert old_kid in {k["kid"] for k in cli.jwks()["keys"]}
    assert verifier.verify(late).sub == "u"  # within the 5 s leeway


def test_every_key_retired_by_hand_starts_a_new_one(engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    keys = SigningKeys(engine, MasterKey.generate(), token_lifetime=900, recheck_s=0,
                       clock=clock)
    kid, _ = keys.current()
    with engine.begin() as conn:
        conn.execute(signing_keys.update().values(retired_at=clock.t))
    clock.t += 1
    assert keys.current()[0] != kid


def test_tokens_name_their_audience_and_others_are_refused(
        keys: SigningKeys, tokens: AccessTokens, clock: Clock) -> None:
    token, _ = tokens.issue("u", [], "f")
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "bazaar-api"
    other_api = AccessTokens(keys, audience="billing", lifetime=900, clock=clock)
    foreign, _ = other_api.issue("u", [], "f")
    assert _reason(tokens, foreign) == "wrong-audience"
    assert _reason(other_api, token) == "wrong-audience"
    kid, private = keys.current()
    payload = jwt.decode(token, options={"verify_signature": False})
    del payload["aud"]
    unaddressed = jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": kid})
    assert _reason(tokens, unaddressed) == "wrong-audience"
    with pytest.raises(ValueError):
        AccessTokens(keys, audience="")


def test_signing_keys_are_sealed_at_rest(keys: SigningKeys, engine) -> None:  # type: ignore[no-untyped-def]
    kid, private = keys.current()
    raw = private.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                serialization.NoEncryption())
    with engine.connect() as conn:
        stored = conn.execute(select(signing_keys.c.private_key)).scalar_one()
    assert raw not in stored
    # Another process with the same master key loads the same current key.
    same = SigningKeys(engine, keys._master, token_lifetime=900)
    assert same.current()[0] == kid


def test_refresh_rotates_and_reuse_revokes_the_family(engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    refresh = RefreshTokens(engine, lifetime=3600, clock=clock)
    family, first = refresh.start_family("user-1", ["a"])
    grant = refresh.rotate(first)
    assert grant.family_id == family and grant.subject == "user-1"
    second = refresh.rotate(grant.refresh_token)
    with pytest.raises(TokenError) as info:
        refresh.rotate(first)  # the stolen copy comes back
    assert info.value.reason == "refresh-reuse"
    with pytest.raises(TokenError) as info:
        refresh.rotate(second.refresh_token)  # the whole family is gone
    assert info.value.reason == "revoked"
    with pytest.raises(TokenError) as info:
        refresh.rotate("rt_unknown")
    assert info.value.reason == "invalid-refresh-token"


def test_refresh_tokens_expire(engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    refresh = RefreshTokens(engine, lifetime=60, clock=clock)
    _, token = refresh.start_family("u", [])
    clock.t += 61
    with pytest.raises(TokenError) as info:
        refresh.rotate(token)
    assert info.value.reason == "expired"


def test_memory_revocations_expire_with_the_token(clock: Clock) -> None:
    revoked = MemoryRevocations(clock=clock)
    asyncio.run(revoked.add("jti-1", clock.t + 10))
    assert asyncio.run(revoked.any_revoked("x", "jti-1"))
    clock.t += 11
    assert not asyncio.run(revoked.any_revoked("jti-1"))


def test_a_key_is_published_before_it_signs(engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    master = MasterKey.generate()
    shop = SigningKeys(engine, master, token_lifetime=900, clock=clock)
    tokens = AccessTokens(shop, lifetime=900, clock=clock)
    old_kid = shop.current()[0]
    cli = SigningKeys(engine, master, token_lifetime=900, clock=clock)
    new_kid = cli.rotate(publish_ahead_s=60)
    clock.t += 1
    assert {k["kid"] for k in shop.jwks()["keys"]} == {old_kid, new_kid}
    signed, _ = tokens.issue("u", [], "f")
    assert jwt.get_unverified_header(signed)["kid"] == old_kid
    clock.t += 58.5  # 59.5 s after the rotation: still the old key
    assert jwt.get_unverified_header(tokens.issue("u", [], "f")[0])["kid"] == old_kid
    clock.t += 1  # its time has come (and the recheck has run)
    assert jwt.get_unverified_header(tokens.issue("u", [], "f")[0])["kid"] == new_kid
    # The old key retired when the new one started (60 s after the rotation, 0.5 s ago):
    # published until every token it signed has expired.
    clock.t += shop.keep_s - 1
    assert old_kid in {k["kid"] for k in shop.jwks()["keys"]}
    clock.t += 1
    assert {k["kid"] for k in shop.jwks()["keys"]} == {new_kid}
    with pytest.raises(ValueError):
        cli.rotate(publish_ahead_s=-1)


def test_a_server_whose_clock_is_behind_signs_with_the_pending_key(
        engine, clock: Clock) -> None:  # type: ignore[no-untyped-def]
    master = MasterKey.generate()
    ahead = SigningKeys(engine, master, token_lifetime=900, clock=clock)
    kid = ahead.current()[0]
    behind = SigningKeys(engine, master, token_lifetime=900, clock=lambda: clock.t - 0.2)
    assert behind.current()[0] == kid  # not a second key, and nothing retired
    assert ahead.current()[0] == kid
