"""``POST /auth/token``, ``/auth/refresh``, ``/auth/revoke`` and ``GET /.well-known/jwks.json``
as Starlette routes: mount them in any Starlette app, or serve :func:`auth_app` alone."""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import parse_qsl

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar import web
from bazaar.auth._authenticator import Audit, structlog_audit
from bazaar.auth._errors import AuthenticationFailed, TokenError
from bazaar.auth._keyring import JWKS_MAX_AGE_S, SigningKeys
from bazaar.auth._ratelimit import RateLimiter, retry_after_header
from bazaar.auth._server import TokenServer
from bazaar.auth._tokens import AccessClaims

_TITLES = {400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests"}


def _problem(status: int, reason: str, detail: str,
             headers: dict[str, str] | None = None) -> Response:
    return web.problem(status, f"auth/{reason}", _TITLES.get(status, "Error"), detail,
                       headers=headers)


async def _fields(request: Request) -> dict[str, str]:
    """JSON object or form fields (OAuth 2 clients send forms). A body that is a JSON object is
    read as JSON whatever its content type (``curl -d '{…}'`` labels it a form)."""
    ctype = request.headers.get("content-type", "")
    raw = await request.body()
    if ctype.startswith("application/x-www-form-urlencoded") and raw.lstrip()[:1] != b"{":
        try:
            return dict(parse_qsl(raw.decode("utf-8"), max_num_fields=16))
        except ValueError:
            return {}
    try:
        data: Any = json.loads(raw or b"{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def account_bucket(username: str) -> str:
    """The failed-login bucket of an account: a hash, so no username is kept in memory or
    Redis; case and surrounding spaces do not make a new bucket."""
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    return f"account:{digest}"


def auth_routes(server: TokenServer, keys: SigningKeys, failed_limiter: RateLimiter,
                audit: Audit | None = None, *,
                account_limiter: RateLimiter | None = None) -> list[Route]:
    """The authentication server's routes; each login, refresh and logout is audited.

    Failed logins are limited per client address (``failed_limiter``) and, with
    ``account_limiter``, per account whatever the address: a guesser rotating addresses (or
    spoofing ``X-Forwarded-For``) still runs out of tries for the account it attacks."""
    log = audit or structlog_audit()

    async def token(request: Request) -> Response:
        fields = await _fields(request)
        username, password = fields.get("username"), fields.get("password")
        grant = fields.get("grant_type", "password")
        if grant != "password" or not username or not password:
            return _problem(400, "invalid-request", "send username and password")
        client = request.client.host if request.client else "-"
        bucket = f"login:{client}"
        account = account_bucket(username)
        decision = await failed_limiter.take(bucket, 0)
        detail = "too many failed logins from this address"
        if decision.allowed and account_limiter is not None:
            decision = await account_limiter.take(account, 0)
            detail = "too many failed logins for this account"
        if not decision.allowed:
            log("limited", scheme="password", reason="too-many-failures", client=client)
            return _problem(429, "too-many-failures", detail,
                            {"retry-after": retry_after_header(decision.retry_after)})
        try:
            pair = await server.login(username, password)
        except AuthenticationFailed as exc:
            await failed_limiter.take(bucket)
            if account_limiter is not None:
                await account_limiter.take(account)
            log("deny", scheme="password", reason=exc.reason, client=client)
            return _problem(401, exc.reason, exc.detail)
        log("allow", scheme="password", principal=pair.subject, client=client)
        return JSONResponse(pair.as_json(), headers={"cache-control": "no-store"})

    async def refresh(request: Request) -> Response:
        fields = await _fields(request)
        token = fields.get("refresh_token")
        if not token:
            return _problem(400, "invalid-request", "send refresh_token")
        client = request.client.host if request.client else "-"
        try:
            pair = await server.refresh(token)
        except TokenError as exc:
            log("deny", scheme="refresh", reason=exc.reason, client=client)
            return _problem(401, exc.reason, exc.detail)
        log("allow", scheme="refresh", principal=pair.subject, client=client)
        return JSONResponse(pair.as_json(), headers={"cache-control": "no-store"})

    async def revoke(request: Request) -> Response:
        fields = await _fields(request)
        access: AccessClaims | None = None
        authorization = request.headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            try:
                access = server.access.verify(authorization[7:].strip())
            except TokenError:
                access = None
        # RFC 7009: answer 200 whether or not the token was valid.
        revoked = await server.revoke(refresh_token=fields.get("refresh_token") or None,
                                      access=access)
        log("revoke", scheme="bearer" if access else "refresh", revoked=revoked,
            principal=access.sub if access else "-",
            client=request.client.host if request.client else "-")
        return JSONResponse({"revoked": revoked})

    async def jwks(request: Request) -> Response:
        published = await anyio.to_thread.run_sync(keys.jwks)  # a query (and on first use a key)
        return JSONResponse(published,
                            headers={"cache-control": f"public, max-age={JWKS_MAX_AGE_S}"})

    return [
        Route("/auth/token", token, methods=["POST"]),
        Route("/auth/refresh", refresh, methods=["POST"]),
        Route("/auth/revoke", revoke, methods=["POST"]),
        Route("/.well-known/jwks.json", jwks, methods=["GET"]),
    ]


def auth_app(server: TokenServer, keys: SigningKeys, failed_limiter: RateLimiter, *,
             account_limiter: RateLimiter | None = None) -> Starlette:
    """The authentication server on its own."""
    return Starlette(routes=auth_routes(server, keys, failed_limiter,
                                        account_limiter=account_limiter))


