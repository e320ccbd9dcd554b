"""What a restart of an in-process (no Redis) auth server keeps: logouts and the signing key.

Revocations live in memory for the hot path, and in ``auth_revocations`` for durability; a
new server loads the still-live ones, so a logged-out token stays refused after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tests.support.auth import Clock

from bazaar import storage
from bazaar.auth import (
    Argon2Params,
    AuthConfig,
    AuthSystem,
    Credential,
    Passwords,
    TokenError,
    build_auth,
)

FAST = Argon2Params(memory_kib=1024, time_cost=1)


class Users:
    def __init__(self) -> None:
        self.ann = Credential("1", "ann", Passwords(FAST).hash("pw"), frozenset({"shop:read"}))

    def find_by_username(self, username: str) -> Credential | None:
        return self.ann if username == "ann" else None

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        return None


def _bearer(auth: AuthSystem, token: str) -> str:
    """The principal id, or the refusal's reason."""
    try:
        principal = auth.authenticator.authenticate_now(
            "GET", "/me", "", {"authorization": f"Bearer {token}"}, None)
    except TokenError as exc:
        return exc.reason
    return principal.id


def test_a_logout_still_holds_after_a_restart(tmp_path: Path) -> None:
    engine = storage.make_engine(f"sqlite:///{tmp_path / 'auth.db'}")  # as the shop opens it
    clock = Clock()
    config = AuthConfig(public_origin="http://127.0.0.1:8000", data_dir=tmp_path, argon2=FAST)

    def start() -> AuthSystem:
        return build_auth(engine, config, Users(), audit=lambda outcome, **f: None, clock=clock)

    first = start()
    out = asyncio.run(first.server.login("ann", "pw"))
    kept = asyncio.run(first.server.login("ann", "pw"))
    assert _bearer(first, out.access_token) == "1"
    claims = first.access.verify(out.access_token)
    assert asyncio.run(first.server.revoke(access=claims)) is True
    assert _bearer(first, out.access_token) == "revoked"

    second = start()  # the process restarted: fresh memory, same database
    assert _bearer(second, out.access_token) == "revoked"
    assert _bearer(second, kept.access_token) == "1"  # other sessions unaffected
    with pytest.raises(TokenError):
        asyncio.run(second.server.refresh(out.refresh_token))

    # Rows outlive their tokens only until the next start-up after they expire.
    clock.t += config.access_token_ttl_s + 120
    assert start().server.live_revocations() == []
    engine.dispose()
