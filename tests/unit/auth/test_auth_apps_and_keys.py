"""Apps with encrypted keys, the master key file, passwords, in-process limiter and nonces."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest
from sqlalchemy import select, update
from tests.support.auth import auth_engine

from bazaar.auth import (
    AppKeyLimit,
    AppNotFound,
    AppRegistry,
    Argon2Params,
    AuthError,
    ConfigError,
    Credential,
    MasterKey,
    MemoryNonceStore,
    MemoryRateLimiter,
    Passwords,
    RateLimit,
    Secret,
)
from bazaar.auth._tables import app_keys


@pytest.fixture
def registry(tmp_path: Path) -> AppRegistry:
    return AppRegistry(auth_engine(tmp_path / "a.db"), MasterKey.generate())


def test_create_shows_the_key_once_and_stores_it_sealed(registry: AppRegistry) -> None:
    issued = registry.create("reporting", ["orders:read"])
    key = issued.api_key.reveal()
    assert issued.app_id.startswith("app_") and key.startswith("bzk_")
    assert key not in repr(issued)
    assert registry.secrets(issued.app_id) == (key.encode(),)
    assert registry.scopes(issued.app_id) == {"orders:read"}
    with registry._engine.connect() as conn:
        stored = conn.execute(select(app_keys.c.secret)).scalar_one()
    assert key.encode() not in stored


def test_sealed_keys_are_bound_to_their_row(registry: AppRegistry) -> None:
    a = registry.create("a", [])
    b = registry.create("b", [])
    with registry._engine.begin() as conn:
        sealed_b = conn.execute(select(app_keys.c.secret).where(
            app_keys.c.app_id == b.app_id)).scalar_one()
        conn.execute(update(app_keys).where(app_keys.c.app_id == a.app_id)
                     .values(secret=sealed_b))
    registry.invalidate()
    with pytest.raises(AuthError):
        registry.secrets(a.app_id)


def test_rotation_allows_two_active_keys_then_revoke(registry: AppRegistry) -> None:
    first = registry.create("mobile", ["cart"])
    second = registry.rotate(first.app_id)
    assert set(registry.secrets(first.app_id) or ()) == {
        first.api_key.reveal().encode(), second.api_key.reveal().encode()}
    with pytest.raises(AppKeyLimit):
        registry.rotate(first.app_id)
    registry.revoke(first.app_id, first.key_id)
    assert registry.secrets(first.app_id) == (second.api_key.reveal().encode(),)
    with pytest.raises(AppNotFound):
        registry.revoke(first.app_id, first.key_id)
    registry.revoke(first.app_id)
    assert registry.secrets(first.app_id) is None
    [info] = registry.list()
    assert info.revoked and info.active_keys == ()


def test_bad_input_changes_nothing(registry: AppRegistry) -> None:
    registry.create("dup", [])
    with pytest.raises(AuthError):
        registry.create("dup", [])
    with pytest.raises(AuthError):
        registry.create("", [])
    with pytest.raises(AppNotFound):
        registry.rotate("app_missing")
    assert [a.name for a in registry.list()] == ["dup"]
    assert registry.secrets("app_missing") is None
    assert registry.secrets("not-an-app-id") is None


def test_last_used_is_recorded(registry: AppRegistry) -> None:
    app = registry.create("x", [])
    registry.touch(app.app_id)
    [info] = registry.list()
    assert info.last_used_at is not None


def test_master_key_file_is_created_0600_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "auth" / "master.key"
    key = MasterKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    sealed = key.seal(b"secret", "aad")
    assert MasterKey.load_or_create(path).open(sealed, "aad") == b"secret"
    with pytest.raises(AuthError):
        key.open(sealed, "other aad")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError):
        MasterKey.load_or_create(path)
    assert "secret" not in repr(key) and "**" in repr(key)


def test_master_key_from_config_must_be_32_bytes() -> None:
    with pytest.raises(ConfigError):
        MasterKey.from_base64(Secret("c2hvcnQ="))
    with pytest.raises(ConfigError):
        MasterKey.from_base64(Secret("!!not base64!!"))


def test_secret_repr_is_redacted() -> None:
    s = Secret("hunter2")
    assert "hunter2" not in repr(s) and "hunter2" not in str(s) and "hunter2" not in f"{s}"
    assert s.reveal() == "hunter2"


class Users:
    def __init__(self) -> None:
        self.rows: dict[str, Credential] = {}

    def find_by_username(self, username: str) -> Credential | None:
        return self.rows.get(username)

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        for name, c in self.rows.items():
            if c.user_id == user_id:
                self.rows[name] = Credential(c.user_id, c.username, password_hash, c.scopes)


def test_passwords_verify_and_rehash_when_parameters_change() -> None:
    weak = Passwords(Argon2Params(memory_kib=1024, time_cost=1))
    users = Users()
    users.rows["ann"] = Credential("1", "ann", weak.hash("correct horse"), frozenset())
    owasp = Passwords()
    assert owasp.authenticate(users, "ann", "wrong") is None
    assert users.rows["ann"].password_hash.startswith("$argon2id$v=19$m=1024")
    assert owasp.authenticate(users, "ann", "correct horse") is not None
    assert users.rows["ann"].password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1")
    assert owasp.authenticate(users, "nobody", "x") is None


def test_memory_rate_limiter_refills_and_says_when() -> None:
    t = [0.0]
    limiter = MemoryRateLimiter(RateLimit(rate=2, burst=3), clock=lambda: t[0])
    assert [limiter.take_now("k").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.take_now("k")
    assert refused.retry_after == pytest.approx(0.5)
    assert not limiter.take_now("k", 0).allowed
    t[0] += 0.5
    assert limiter.take_now("k").allowed
    assert limiter.take_now("other").allowed
    with pytest.raises(ValueError):
        RateLimit(rate=0, burst=1)


def test_memory_nonces_are_single_use_within_their_ttl() -> None:
    t = [0.0]
    nonces = MemoryNonceStore(clock=lambda: t[0])
    assert asyncio.run(nonces.remember("a", 10))
    assert not asyncio.run(nonces.remember("a", 10))
    t[0] += 11
    assert asyncio.run(nonces.remember("a", 10))
