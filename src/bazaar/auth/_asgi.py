"""ASGI shells: the middleware that guards any ASGI app, and problem+json responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bazaar import web
from bazaar.auth._authenticator import Authenticator
from bazaar.auth._errors import AuthenticationFailed, AuthUnavailable, RateLimited
from bazaar.auth._ratelimit import retry_after_header
from bazaar.auth._sigv4 import SigV4Request, is_sigv4

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

Refuse = Callable[[Scope, Send, int, str, str, list[tuple[bytes, bytes]]], Awaitable[None]]
"""How a refusal is rendered: ``(scope, send, status, reason, detail, headers)``."""

#: Where the middleware puts the :class:`Principal` in the ASGI scope.
SCOPE_KEY = "bazaar.principal"

_TITLES = {401: "Unauthorized", 413: "Content Too Large", 429: "Too Many Requests",
           503: "Service Unavailable"}


async def send_problem(send: Send, status: int, reason: str, detail: str,
                       headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """An RFC 9457 problem+json response carrying a stable ``reason`` (type
    ``…/problems/auth/<reason>``), rendered by :mod:`bazaar.web` like every other problem."""
    await web.send_problem(send, status, f"auth/{reason}", _TITLES.get(status, "Error"), detail,
                           headers=headers)


def exempt_paths(*rules: tuple[str, str]) -> Callable[[Scope], bool]:
    """A predicate for routes that need no authentication: ``(METHOD or "*", path)``; a path
    ending in ``*`` is a prefix."""
    exact = {(m, p) for m, p in rules if not p.endswith("*")}
    prefixes = [(m, p[:-1]) for m, p in rules if p.endswith("*")]
    paths = {p for _, p in exact}

    def exempt(scope: Scope) -> bool:
        path = scope.get("path", "")
        if path in paths:  # most requests stop at this one set lookup
            method = scope.get("method", "GET")
            if (method, path) in exact or ("*", path) in exact:
                return True
        if not prefixes:
            return False
        method = scope.get("method", "GET")
        for m, p in prefixes:  # noqa: SIM110 - a loop is faster than any(genexpr) here
            if path.startswith(p) and (m == "*" or m == method):
                return True
        return False

    return exempt


async def _problem(scope: Scope, send: Send, status: int, reason: str, detail: str,
                   headers: list[tuple[bytes, bytes]]) -> None:
    await send_problem(send, status, reason, detail, headers)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """ASGI headers as ``{lowercase name: value}``, repeated fields joined with ``", "``.

    A Bearer request needs only ``authorization``: it skips decoding the rest."""
    wanted = None
    for k, v in raw:
        if k == b"authorization" and wanted is None:
            wanted = v
        elif k == b"signature-input" or k == b"signature":
            wanted = None
            break
    else:
        if wanted is not None and wanted[:7].lower() == b"bearer ":
            return {"authorization": wanted.decode("latin-1")}
    headers: dict[str, str] = {}
    for k, v in raw:
        name = k.decode("latin-1").lower()  # servers send lowercase names; be sure anyway
        value = v.decode("latin-1").strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


class AuthMiddleware:
    """Require a Bearer token or an RFC 9421 signature on every HTTP request not exempted.

    On success the :class:`Principal` is put in ``scope[scope_key]``; on failure the app is
    never called and the client gets 401 (or 429 with ``Retry-After``) as problem+json.
    Signed requests have their body read (up to ``max_body`` bytes) to check the digest, and
    replayed to the app unchanged.

    With SigV4 configured on the authenticator, a request carrying ``Authorization:
    AWS4-HMAC-SHA256`` or a presigned query is checked in two steps: its signature's form,
    time, scope and access key before a byte of the body is read, then (body read, up to
    ``max_sigv4_body``) the signature itself. ``refuse`` renders refusals (default: RFC 9457
    problem details; an AWS-shaped API renders AWS's error shapes).
    """

    def __init__(self, app: ASGIApp, *, authenticator: Authenticator,
                 exempt: Callable[[Scope], bool] = lambda scope: False,
                 scope_key: str = SCOPE_KEY, max_body: int = 1 << 20,
                 max_sigv4_body: int | None = None, refuse: Refuse = _problem) -> None:
        self.app = app
        self.authenticator = authenticator
        self.exempt = exempt
        self.scope_key = scope_key
        self.max_body = max_body
        self.max_sigv4_body = max_body if max_sigv4_body is None else max_sigv4_body
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
            return
        if kind != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        scope.pop(self.scope_key, None)
        if self.exempt(scope):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope["headers"])
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").partition("?")[0]
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client")
        client_id = client[0] if client else "-"
        if self.authenticator.sigv4 is not None and is_sigv4(headers.get("authorization"),
                                                             query):
            await self._sigv4(scope, receive, send, headers, path, query, client_id)
            return
        body: bytes | None = None
        read = False
        if "signature-input" in headers or "signature" in headers:
            if ("content-length" not in headers and "transfer-encoding" not in headers
                    and scope.get("http_version") in ("1.1", "1.0")):
                body = b""  # HTTP/1.x: no length, no chunks: no body (RFC 9112 §6.3)
            else:
                body = await self._read_body(receive)
                read = True
            if body is None:
                await self.refuse(scope, send, 413, "body-too-large",
                                  f"signed bodies are limited to {self.max_body} bytes", [])
                return
        authenticator = self.authenticator
        try:
            if authenticator.in_process:  # nothing to await: no coroutine
                principal = authenticator.authenticate_now(
                    scope["method"], path, query, headers, body, client_id)
            else:
                principal = await authenticator.authenticate(
                    scope["method"], path, query, headers, body, client_id)
        except (RateLimited, AuthenticationFailed, AuthUnavailable) as exc:
            await self._refused(scope, send, exc)
            return
        scope[self.scope_key] = principal
        if not read:
            await self.app(scope, receive, send)
            return
        await self._replaying(scope, receive, send, body or b"")

    async def _refused(self, scope: Scope, send: Send,
                       exc: RateLimited | AuthenticationFailed | AuthUnavailable) -> None:
        if isinstance(exc, RateLimited):
            await self.refuse(scope, send, 429, exc.reason, "slow down",
                              [(b"retry-after", retry_after_header(exc.retry_after).encode())])
        elif isinstance(exc, AuthenticationFailed):
            await self.refuse(scope, send, 401, exc.reason, exc.detail,
                              [(b"www-authenticate", b'Bearer realm="bazaar"')])
        else:
            await self.refuse(scope, send, 503, exc.reason, exc.detail,
                              [(b"retry-after", b"1")])

    async def _sigv4(self, scope: Scope, receive: Receive, send: Send,
                     headers: dict[str, str], path: str, query: str, client: str) -> None:
        """Prepare (no body read), read the body, verify; then the app sees the body again."""
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]]
        request = SigV4Request(scope["method"], path, query, pairs)
        authenticator = self.authenticator
        try:
            parts = await authenticator.sigv4_prepare(request, client)
            body: bytes | None = b""
            if ("content-length" in headers or "transfer-encoding" in headers
                    or scope.get("http_version") not in ("1.1", "1.0")):
                body = await self._read_body(receive, self.max_sigv4_body)
            if body is None:
                await self.refuse(scope, send, 413, "body-too-large", "signed bodies are "
                                  f"limited to {self.max_sigv4_body} bytes", [])
                return
            principal = await authenticator.authenticate_sigv4(request, parts, body, client)
        except (RateLimited, AuthenticationFailed, AuthUnavailable) as exc:
            await self._refused(scope, send, exc)
            return
        scope[self.scope_key] = principal
        await self._replaying(scope, receive, send, body)

    async def _replaying(self, scope: Scope, receive: Receive, send: Send,
                         body: bytes) -> None:
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSockets authenticate like requests (no body: a signature covers the handshake);
        a refused handshake is closed with 1008 (policy violation) before it is accepted."""
        scope.pop(self.scope_key, None)
        if not self.exempt(scope):
            raw_path = scope.get("raw_path") or scope["path"].encode()
            client = scope.get("client")
            try:
                principal = await self.authenticator.authenticate(
                    "GET", raw_path.decode("latin-1").partition("?")[0],
                    scope.get("query_string", b"").decode("latin-1"),
                    _headers(scope["headers"]), b"", client[0] if client else "-")
            except (AuthenticationFailed, RateLimited, AuthUnavailable):
                message = await receive()
                if message["type"] == "websocket.connect":
                    await send({"type": "websocket.close", "code": 1008})
                return
            scope[self.scope_key] = principal
        await self.app(scope, receive, send)

    async def _read_body(self, receive: Receive, limit: int | None = None) -> bytes | None:
        limit = self.max_body if limit is None else limit
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)
