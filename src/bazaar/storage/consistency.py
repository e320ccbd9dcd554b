"""The HTTP side of read-your-writes: an ASGI middleware around an app whose reads go
through a :class:`~bazaar.storage.routing.ReadRouter`.

- A write (any method but GET, HEAD, OPTIONS) is served pinned to the primary; when it
  succeeds (status < 400) its response carries the primary's WAL position after the commit,
  as the header ``Bazaar-LSN`` and the cookie ``bazaar_lsn``.
- A read brings the token back (the header, else the cookie); its reads see at least that
  position. A token that does not parse is ignored, and the read goes to the primary — never
  a 500.
"""

from __future__ import annotations

import logging
from http.cookies import CookieError, SimpleCookie
from typing import Any

import anyio.to_thread

from bazaar.storage.routing import ReadRouter, format_lsn, parse_lsn, pinned_to_primary, read_token

HEADER = "bazaar-lsn"
COOKIE = "bazaar_lsn"
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("bazaar.storage.consistency")

Scope = dict[str, Any]


def _token(scope: Scope) -> tuple[bool, int | None]:
    """(whether a token was sent, its position if it parses)."""
    header: str | None = None
    cookie: str | None = None
    for name, value in scope.get("headers", ()):
        if name == b"bazaar-lsn":
            header = value.decode("latin-1")
        elif name == b"cookie":
            try:
                jar: SimpleCookie = SimpleCookie(value.decode("latin-1"))
            except CookieError:
                continue
            if COOKIE in jar:
                cookie = jar[COOKIE].value
    sent = header if header is not None else cookie
    if sent is None:
        return False, None
    return True, parse_lsn(sent)


class ReadYourWrites:
    """``app`` with reads routed by the request's LSN token and writes handing one back."""

    def __init__(self, app: Any, router: ReadRouter, *, cookie_max_age_s: int = 300) -> None:
        self.app = app
        self.router = router
        self.cookie_max_age_s = cookie_max_age_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] in SAFE:
            sent, token = _token(scope)
            if sent and token is None:  # garbage: read where every write is
                self.router.note("bad-token")
                with pinned_to_primary():
                    await self.app(scope, receive, send)
                return
            with read_token(token):
                await self.app(scope, receive, send)
            return

        async def send_with_token(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and message["status"] < 400:
                try:
                    lsn = format_lsn(await anyio.to_thread.run_sync(self.router.primary_lsn))
                except Exception:  # the write is done; a missing token only costs a read
                    log.warning("no WAL position for the response", exc_info=True)
                else:
                    headers = list(message.get("headers", ()))
                    headers.append((b"bazaar-lsn", lsn.encode()))
                    headers.append((b"set-cookie", f"{COOKIE}={lsn}; Path=/; Max-Age="
                                    f"{self.cookie_max_age_s}; HttpOnly; SameSite=Lax"
                                    .encode()))
                    message = {**message, "headers": headers}
            await send(message)

        with pinned_to_primary():
            await self.app(scope, receive, send_with_token)
