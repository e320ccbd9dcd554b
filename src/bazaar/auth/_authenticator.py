"""Deciding who a request is from: a Bearer token, an RFC 9421 signature or AWS SigV4,
then rate limits.

Transport-free: takes the method, raw path, query, headers and body, returns a
:class:`Principal` or raises. The ASGI middleware is a thin shell around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import BinaryIO, Protocol
from urllib.parse import urlsplit

import structlog
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from bazaar.auth._audit import JsonLinesAudit
from bazaar.auth._errors import (
    AuthenticationFailed,
    AuthUnavailable,
    ConfigError,
    RateLimited,
    SignatureError,
    TokenError,
)
from bazaar.auth._ports import Principal
from bazaar.auth._ratelimit import Decision, MemoryRateLimiter, RateLimiter
from bazaar.auth._replay import MemoryNonceStore, NonceStore
from bazaar.auth._revocations import MemoryRevocations, Revocations
from bazaar.auth._signatures import (
    SignaturePolicy,
    SignedRequest,
    VerifiedSignature,
    authority_of,
    verify,
)
from bazaar.auth._sigv4 import (
    SigV4Parts,
    SigV4Policy,
    SigV4Request,
    check_scope_and_time,
    parse_sigv4,
    verify_sigv4,
)
from bazaar.auth._tokens import AccessClaims, AccessTokens


class AppKeys(Protocol):
    """Where app secrets come from (the :class:`AppRegistry`, or a fixed map in tests)."""

    def secrets(self, app_id: str) -> tuple[bytes, ...] | None: ...

    def scopes(self, app_id: str) -> frozenset[str]: ...

    def touch(self, app_id: str) -> None: ...


class StaticAppKeys:
    """A fixed ``{app_id: (secrets, scopes)}`` map: for embedding, benchmarks and tests."""

    def __init__(self, apps: Mapping[str, tuple[tuple[bytes, ...], frozenset[str]]]) -> None:
        self._apps = dict(apps)

    def secrets(self, app_id: str) -> tuple[bytes, ...] | None:
        entry = self._apps.get(app_id)
        return entry[0] if entry else None

    def scopes(self, app_id: str) -> frozenset[str]:
        entry = self._apps.get(app_id)
        return entry[1] if entry else frozenset()

    def touch(self, app_id: str) -> None:
        return None


class Audit(Protocol):
    def __call__(self, outcome: str, **fields: object) -> None: ...


def structlog_audit(logger_name: str = "bazaar.auth.audit",
                    stream: BinaryIO | None = None) -> Audit:
    """One structured line per decision: outcome, scheme, principal, reason — never a secret.

    With ``stream``, the lines are JSON (orjson, UNIX timestamps) appended to it by a
    :class:`JsonLinesAudit` — an audit trail of its own, about 1 µs a line, whatever the
    application's logging set-up. Without, they go through the application's structlog
    configuration.
    """
    if stream is not None:
        return JsonLinesAudit(stream)
    log = structlog.get_logger(logger_name)

    def audit(outcome: str, **fields: object) -> None:
        log.info("auth.decision", outcome=outcome, **fields)

    return audit


def parse_origin(origin: str) -> tuple[str, str]:
    """``scheme://host[:port]`` → (scheme, ``@authority``)."""
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(f"public origin must be scheme://host[:port], not {origin!r}")
    return parts.scheme, authority_of(parts.scheme, parts.hostname, parts.port)


class Authenticator:
    """Authenticate one request with either scheme, then apply the per-principal rate limit."""

    def __init__(self, *, public_origin: str, apps: AppKeys, tokens: AccessTokens | None,
                 revocations: Revocations, nonces: NonceStore, limiter: RateLimiter,
                 failed_limiter: RateLimiter, policy: SignaturePolicy = SignaturePolicy(),
                 audit: Audit | None = None, clock: Callable[[], float] = time.time,
                 sigv4: SigV4Policy | None = None, sigv4_keys: AppKeys | None = None) -> None:
        self.scheme, self.authority = parse_origin(public_origin)
        #: AWS SigV4 (``Authorization: AWS4-HMAC-SHA256`` or a presigned query) is accepted
        #: when a policy is given, against ``sigv4_keys`` (access key id = app id).
        self.sigv4 = sigv4
        self._sigv4_keys = sigv4_keys if sigv4_keys is not None else apps
        self._apps = apps
        self._tokens = tokens
        self._revocations = revocations
        self._nonces = nonces
        self._limiter = limiter
        self._failed = failed_limiter
        self.policy = policy
        # A signature is accepted from created - skew to created + max_age; its nonce is kept
        # from first use for that whole span, plus a second so the last instant is covered
        # too (and Redis's whole-second expiry cannot end it early).
        self._nonce_ttl = policy.max_age + policy.future_skew + 1.0
        self._audit = audit or structlog_audit()
        # An audit with a keyword-free ``allow`` (JsonLinesAudit) gets the hot path's lines so.
        self._allow: Callable[[str, str, str, str, str, str], None] | None = getattr(
            self._audit, "allow", None)
        self._clock = clock
        self._blocked: dict[str, float] = {}
        # One Principal (and its rate-limit bucket name) per access token, built once: the
        # token's claims are immutable.
        self._principals: dict[str, tuple[Principal, str]] = {}
        # In-process stores are called without a coroutine on the hot path (~0.3 µs each).
        self._revoked_now = (revocations.any_revoked_now
                             if isinstance(revocations, MemoryRevocations) else None)
        self._take_now = limiter.take_now if isinstance(limiter, MemoryRateLimiter) else None
        self._remember_now = (nonces.remember_now if isinstance(nonces, MemoryNonceStore)
                              else None)
        self._failed_now = (failed_limiter.take_now
                            if isinstance(failed_limiter, MemoryRateLimiter) else None)
        #: Every store is in this process: :meth:`authenticate_now` decides without awaiting.
        self.in_process = (self._revoked_now is not None and self._take_now is not None
                           and self._remember_now is not None and self._failed_now is not None)

    def check_failures(self, client: str) -> None:
        """Refuse early a client that has failed too often.

        Only failures touch the (possibly remote) failure bucket; a client found over its
        limit is remembered here until its bucket refills, so good traffic pays one dict
        lookup, not a Redis round trip."""
        until = self._blocked.get(client)
        if until is not None:
            wait = until - self._clock()
            if wait > 0:
                raise RateLimited("too-many-failures", wait)
            del self._blocked[client]

    def _failure_recorded(self, client: str, failed: Decision) -> RateLimited | None:
        if failed.allowed:
            return None
        if len(self._blocked) > 100_000:
            self._blocked.clear()
        self._blocked[client] = self._clock() + failed.retry_after
        return RateLimited("too-many-failures", failed.retry_after)

    # Two thin I/O shells around one set of decisions. ``authenticate_now`` calls the
    # in-process stores directly; ``authenticate`` awaits the remote ones. Every decision
    # (which scheme, revoked, replayed, failure counting, the principal's limit, what is
    # audited) is one of the step methods below, shared by both.

    def authenticate_now(self, method: str, path: str, query: str,
                         headers: Mapping[str, str], body: bytes | None,
                         client: str = "-") -> Principal:
        """:meth:`authenticate` without a coroutine, when :attr:`in_process` (every store in
        this process: nothing to await). The same decisions, audit lines and errors."""
        revoked_now, take_now = self._revoked_now, self._take_now
        failed_now, remember_now = self._failed_now, self._remember_now
        if (revoked_now is None or take_now is None or failed_now is None
                or remember_now is None):
            raise ConfigError("authenticate_now needs every store in this process")
        scheme = "-"
        try:
            try:
                scheme, token = self._scheme(headers, client)
                if token is not None:
                    claims = self._claims(token)
                    principal, bucket = self._bearer_checked(
                        claims, revoked_now(claims.jti, claims.fid))
                else:
                    verified = self._verify_signature(method, path, query, headers, body)
                    principal, bucket = self._signature_checked(
                        verified, verified.nonce is None
                        or remember_now(self._nonce_key(verified), self._nonce_ttl))
            except AuthenticationFailed as exc:
                self._denied(exc, scheme, method, path, client)
                limited = self._failure_recorded(client, failed_now("fail:" + client))
                if limited is not None:
                    raise limited from exc
                raise
            except RateLimited as exc:
                self._limited(exc, scheme, method, path, client)
                raise
            decision = take_now(bucket)
        except (SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc, method, path, client) from exc
        return self._decided(decision, principal, scheme, method, path, client)

    async def authenticate(self, method: str, path: str, query: str,
                           headers: Mapping[str, str], body: bytes | None,
                           client: str = "-") -> Principal:
        """The principal of a request; :class:`AuthenticationFailed`, :class:`RateLimited`,
        or :class:`AuthUnavailable` when Redis or the database fails (fail closed)."""
        if self.in_process:
            return self.authenticate_now(method, path, query, headers, body, client)
        scheme = "-"
        try:  # one coroutine on the hot path: each extra await layer costs ~0.3 µs
            try:
                scheme, token = self._scheme(headers, client)
                if token is not None:
                    claims = self._claims(token)
                    revoked = (self._revoked_now(claims.jti, claims.fid)
                               if self._revoked_now is not None
                               else await self._revocations.any_revoked(claims.jti, claims.fid))
                    principal, bucket = self._bearer_checked(claims, revoked)
                else:
                    verified = self._verify_signature(method, path, query, headers, body)
                    fresh = True
                    if verified.nonce is not None:
                        key = self._nonce_key(verified)
                        fresh = (self._remember_now(key, self._nonce_ttl)
                                 if self._remember_now is not None
                                 else await self._nonces.remember(key, self._nonce_ttl))
                    principal, bucket = self._signature_checked(verified, fresh)
            except AuthenticationFailed as exc:
                self._denied(exc, scheme, method, path, client)
                limited = self._failure_recorded(client, await self._failed.take("fail:" + client))
                if limited is not None:
                    raise limited from exc
                raise
            except RateLimited as exc:
                self._limited(exc, scheme, method, path, client)
                raise
            decision = (self._take_now(bucket) if self._take_now is not None
                        else await self._limiter.take(bucket))
        except (RedisError, SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc, method, path, client) from exc
        return self._decided(decision, principal, scheme, method, path, client)

    # --- AWS SigV4: two steps, so that the body is read only for a plausible request ------

    async def sigv4_prepare(self, request: SigV4Request, client: str = "-") -> SigV4Parts:
        """Before the body is read: the signature parsed, its service, region and time in
        the window, its access key known. Failures are audited and counted like others."""
        try:
            try:
                if self._blocked:
                    self.check_failures(client)
                if self.sigv4 is None:
                    raise SignatureError("unsupported-scheme", "AWS SigV4 is not accepted here")
                parts = parse_sigv4(request)
                check_scope_and_time(parts, self.sigv4, self._clock())
                if not self._sigv4_keys.secrets(parts.access_key_id):
                    raise SignatureError("unknown-access-key", "The security token included "
                                                               "in the request is invalid.")
                return parts
            except AuthenticationFailed as exc:
                await self._sigv4_failed(exc, request, client)
                raise
            except RateLimited as exc:
                self._limited(exc, "sigv4", request.method, request.path, client)
                raise
        except (RedisError, SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc, request.method, request.path, client) from exc

    async def authenticate_sigv4(self, request: SigV4Request, parts: SigV4Parts, body: bytes,
                                 client: str = "-") -> Principal:
        """The app that signed ``request`` and ``body`` (after :meth:`sigv4_prepare`), then
        its rate limit. As on AWS, the same signed request within the window passes again."""
        if self.sigv4 is None:
            raise ConfigError("SigV4 is not configured")
        try:
            try:
                verified = verify_sigv4(request, body, self._sigv4_keys.secrets, self.sigv4,
                                        now=self._clock(), parts=parts)
            except AuthenticationFailed as exc:
                await self._sigv4_failed(exc, request, client)
                raise
            self._sigv4_keys.touch(verified.access_key_id)
            principal = Principal(kind="app", id=verified.access_key_id,
                                  scopes=self._sigv4_keys.scopes(verified.access_key_id),
                                  scheme="sigv4", credential_id=f"key{verified.key_index}")
            bucket = f"app:{principal.id}"
            decision = (self._take_now(bucket) if self._take_now is not None
                        else await self._limiter.take(bucket))
        except (RedisError, SQLAlchemyError, OSError) as exc:
            raise self._unavailable(exc, request.method, request.path, client) from exc
        return self._decided(decision, principal, "sigv4", request.method, request.path,
                             client)

    async def _sigv4_failed(self, exc: AuthenticationFailed, request: SigV4Request,
                            client: str) -> None:
        self._denied(exc, "sigv4", request.method, request.path, client)
        limited = self._failure_recorded(client, await self._failed.take("fail:" + client))
        if limited is not None:
            raise limited from exc

    # --- the decisions ------------------------------------------------------------------

    def _scheme(self, headers: Mapping[str, str], client: str) -> tuple[str, str | None]:
        """A client blocked for failing too often is refused first; then the scheme:
        ``("bearer", token)``, ``("signature", None)``, or ``missing-credentials``."""
        if self._blocked:
            self.check_failures(client)
        authorization = headers.get("authorization")
        if authorization is not None and authorization[:7].lower() == "bearer ":
            return "bearer", authorization[7:].strip()
        if "signature-input" in headers or "signature" in headers:
            return "signature", None
        raise AuthenticationFailed("missing-credentials",
                                   "send Authorization: Bearer or an RFC 9421 signature")

    def _claims(self, token: str) -> AccessClaims:
        if self._tokens is None:
            raise TokenError("unsupported-scheme", "bearer tokens are not accepted here")
        return self._tokens.verify(token)

    def _bearer_checked(self, claims: AccessClaims, revoked: bool) -> tuple[Principal, str]:
        """A verified token's principal and bucket, unless it (or its family) is revoked."""
        if revoked:
            raise TokenError("revoked", "the token has been revoked")
        found = self._principals.get(claims.jti)
        if found is None:
            # One Principal per token, built once: its claims are immutable.
            if len(self._principals) > 50_000:
                self._principals.clear()
            found = self._principals[claims.jti] = (
                Principal(kind="user", id=claims.sub, scopes=claims.scopes, scheme="bearer",
                          credential_id=claims.jti),
                f"user:{claims.sub}")
        return found

    def _verify_signature(self, method: str, path: str, query: str,
                          headers: Mapping[str, str], body: bytes | None) -> VerifiedSignature:
        req = SignedRequest(method=method, scheme=self.scheme, authority=self.authority,
                            path=path, query=query, headers=headers)
        return verify(req, body if body is not None else b"", self._apps.secrets,
                      policy=self.policy, now=self._clock())

    @staticmethod
    def _nonce_key(verified: VerifiedSignature) -> str:
        return f"{verified.keyid}:{verified.nonce}"

    def _signature_checked(self, verified: VerifiedSignature,
                           fresh: bool) -> tuple[Principal, str]:
        """A verified signature's principal and bucket, unless its nonce was seen before."""
        if not fresh:
            raise SignatureError("replayed", "this nonce was already used")
        principal = self._app_principal(verified)
        return principal, f"app:{principal.id}"

    def _denied(self, exc: AuthenticationFailed, scheme: str, method: str, path: str,
                client: str) -> None:
        self._audit("deny", scheme=scheme, reason=exc.reason, method=method, path=path,
                    client=client)

    def _limited(self, exc: RateLimited, scheme: str, method: str, path: str,
                 client: str) -> None:
        self._audit("limited", scheme=scheme, reason=exc.reason, method=method, path=path,
                    client=client)

    def _unavailable(self, exc: Exception, method: str, path: str,
                     client: str) -> AuthUnavailable:
        """Fail closed: a store we cannot reach is a 503, never an open door."""
        self._audit("error", reason="auth-unavailable", error=type(exc).__name__,
                    method=method, path=path, client=client)
        return AuthUnavailable()

    def _decided(self, decision: Decision, principal: Principal, scheme: str, method: str,
                 path: str, client: str) -> Principal:
        """The principal's own rate limit, then the allow line."""
        if not decision.allowed:
            self._audit("limited", scheme=scheme, reason="rate-limited", principal=principal.id,
                        method=method, path=path, client=client)
            raise RateLimited("rate-limited", decision.retry_after)
        if self._allow is not None:
            self._allow(scheme, principal.id, principal.kind, method, path, client)
        else:
            self._audit("allow", scheme=scheme, principal=principal.id, kind=principal.kind,
                        method=method, path=path, client=client)
        return principal

    def _app_principal(self, verified: VerifiedSignature) -> Principal:
        self._apps.touch(verified.keyid)
        return Principal(kind="app", id=verified.keyid, scopes=self._apps.scopes(verified.keyid),
                         scheme="signature", credential_id=f"key{verified.key_index}")
