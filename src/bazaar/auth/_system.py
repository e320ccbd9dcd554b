"""Composition: everything auth needs, built from one typed :class:`AuthConfig` and an engine.

The host application calls :func:`build_auth` once at start-up (the shop's ``bootstrap``), then
wraps its ASGI app with :meth:`AuthSystem.middleware` and mounts :meth:`AuthSystem.routes`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import Engine
from starlette.routing import BaseRoute

from bazaar.auth._apps import AppRegistry
from bazaar.auth._asgi import SCOPE_KEY, ASGIApp, AuthMiddleware, Scope
from bazaar.auth._audit import JsonLinesAudit
from bazaar.auth._authenticator import Audit, Authenticator, structlog_audit
from bazaar.auth._crypto import MasterKey
from bazaar.auth._endpoints import auth_routes
from bazaar.auth._errors import ConfigError
from bazaar.auth._keyring import SigningKeys
from bazaar.auth._passwords import Argon2Params, Passwords
from bazaar.auth._ports import CredentialStore
from bazaar.auth._ratelimit import MemoryRateLimiter, RateLimit, RateLimiter, RedisRateLimiter
from bazaar.auth._refresh import RefreshTokens
from bazaar.auth._replay import MemoryNonceStore, NonceStore, RedisNonceStore
from bazaar.auth._revocations import MemoryRevocations, RedisRevocations, Revocations
from bazaar.auth._secret import Secret
from bazaar.auth._server import TokenServer
from bazaar.auth._signatures import SignaturePolicy
from bazaar.auth._tables import install
from bazaar.auth._tokens import DEFAULT_AUDIENCE, AccessTokens


@dataclass(frozen=True)
class AuthConfig:
    """Auth's settings, with units in the names. Built by the edge from ``bazaar.config``."""

    public_origin: str
    data_dir: Path
    master_key: Secret[str] | None = None
    redis_url: str | None = None
    #: Prefix of every Redis key auth writes (several deployments can share one Redis).
    redis_prefix: str = "bazaar:auth:"
    issuer: str = "bazaar"
    #: ``aud`` of the access tokens issued, and the one accepted.
    audience: str = DEFAULT_AUDIENCE
    access_token_ttl_s: float = 15 * 60.0
    refresh_token_ttl_s: float = 14 * 86400.0
    signature_window_s: float = 300.0
    clock_skew_s: float = 5.0
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=100.0, burst=200.0))
    failed_auth_limit: RateLimit = field(default_factory=lambda: RateLimit(rate=0.5, burst=20.0))
    #: Failed logins per account (username), from any address.
    failed_login_per_account: RateLimit = field(
        default_factory=lambda: RateLimit(rate=0.1, burst=10.0))
    #: How often a running server looks for a signing key rotated by another process.
    signing_key_recheck_s: float = 1.0
    argon2: Argon2Params = field(default_factory=Argon2Params)
    max_signed_body_bytes: int = 1 << 20
    #: Where audit lines go (JSON lines, appended); None: the application's structlog set-up.
    audit_log: Path | None = None

    def load_master_key(self) -> MasterKey:
        if self.master_key is not None:
            return MasterKey.from_base64(self.master_key)
        return MasterKey.load_or_create(self.data_dir / "auth" / "master.key")


@dataclass
class AuthSystem:
    """The built component: its stores, its server, its authenticator."""

    config: AuthConfig
    apps: AppRegistry
    keys: SigningKeys
    access: AccessTokens
    refresh: RefreshTokens
    server: TokenServer
    authenticator: Authenticator
    failed_limiter: RateLimiter
    audit: Audit
    redis: Redis | None = None
    #: Failed logins per account; None: per address only.
    account_limiter: RateLimiter | None = None

    def middleware(self, app: ASGIApp, exempt: Callable[[Scope], bool] = lambda s: False,
                   scope_key: str = SCOPE_KEY) -> AuthMiddleware:
        """Wrap ``app`` so every request not ``exempt`` must authenticate."""
        return AuthMiddleware(app, authenticator=self.authenticator, exempt=exempt,
                              scope_key=scope_key, max_body=self.config.max_signed_body_bytes)

    def routes(self) -> list[BaseRoute]:
        """``/auth/token``, ``/auth/refresh``, ``/auth/revoke``, ``/.well-known/jwks.json``."""
        return list(auth_routes(self.server, self.keys, self.failed_limiter, self.audit,
                                account_limiter=self.account_limiter))

    async def aclose(self) -> None:
        if isinstance(self.audit, JsonLinesAudit):
            self.audit.flush()
        if self.redis is not None:
            await self.redis.aclose()


def build_auth(engine: Engine, config: AuthConfig, credentials: CredentialStore, *,
               audit: Audit | None = None, clock: Callable[[], float] = time.time) -> AuthSystem:
    """Install auth's tables (idempotent) and build every part from ``config``."""
    if config.access_token_ttl_s <= 0 or config.signature_window_s <= 0:
        raise ConfigError("token lifetime and signature window must be positive")
    install(engine)
    master = config.load_master_key()
    redis: Redis | None = Redis.from_url(config.redis_url) if config.redis_url else None
    revocations: Revocations
    nonces: NonceStore
    limiter: RateLimiter
    failed: RateLimiter
    accounts: RateLimiter
    if redis is not None:
        p = config.redis_prefix
        revocations = RedisRevocations(redis, prefix=p + "revoked:", clock=clock)
        nonces = RedisNonceStore(redis, prefix=p + "nonce:")
        limiter = RedisRateLimiter(redis, config.rate_limit, prefix=p + "bucket:")
        failed = RedisRateLimiter(redis, config.failed_auth_limit, prefix=p + "fail:")
        accounts = RedisRateLimiter(redis, config.failed_login_per_account, prefix=p + "account:")
    else:
        revocations = MemoryRevocations(clock=clock)
        nonces = MemoryNonceStore(clock=clock)
        limiter = MemoryRateLimiter(config.rate_limit)
        failed = MemoryRateLimiter(config.failed_auth_limit)
        accounts = MemoryRateLimiter(config.failed_login_per_account)
    apps = AppRegistry(engine, master, clock=clock)
    keys = SigningKeys(engine, master, token_lifetime=config.access_token_ttl_s,
                       recheck_s=config.signing_key_recheck_s, leeway=config.clock_skew_s,
                       clock=clock)
    access = AccessTokens(keys, issuer=config.issuer, audience=config.audience,
                          lifetime=config.access_token_ttl_s, leeway=config.clock_skew_s,
                          clock=clock)
    refresh = RefreshTokens(engine, lifetime=config.refresh_token_ttl_s, clock=clock)
    server = TokenServer(credentials=credentials, passwords=Passwords(config.argon2),
                         access=access, refresh=refresh, revocations=revocations, engine=engine,
                         clock=clock)
    if isinstance(revocations, MemoryRevocations):
        # Logouts recorded before a restart still hold (Redis keeps its own, expiring keys).
        for revoked_id, until in server.live_revocations():
            revocations.add_now(revoked_id, until)
    policy = SignaturePolicy(max_age=config.signature_window_s, future_skew=config.clock_skew_s)
    if audit is None:
        audit = (JsonLinesAudit.open(config.audit_log) if config.audit_log is not None
                 else structlog_audit())
    authenticator = Authenticator(public_origin=config.public_origin, apps=apps, tokens=access,
                                  revocations=revocations, nonces=nonces, limiter=limiter,
                                  failed_limiter=failed, policy=policy, audit=audit, clock=clock)
    return AuthSystem(config=config, apps=apps, keys=keys, access=access, refresh=refresh,
                      server=server, authenticator=authenticator, failed_limiter=failed,
                      audit=audit, redis=redis, account_limiter=accounts)
