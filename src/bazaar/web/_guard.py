"""The ASGI middleware at the edge of every Bazaar HTTP app.

* A declared ``Content-Length`` over the limit → 413 before the body is read; a chunked body
  is counted as it streams and refused as soon as the total passes the limit.
* A body that stalls for ``body_timeout_s`` → 408.
* Anything the router let out (an unmapped exception) → the error map's 500, logged once.
* Every 5xx (and every refusal above) carries ``Connection: close``: the server may have
  left the connection in a state the client must not reuse, and an unread body must not be
  parsed as the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bazaar.web._errors import BodyTimeout, BodyTooLarge, ErrorMap
from bazaar.web._limits import Limits

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_CLOSE = (b"connection", b"close")


def _body_expected(scope: Scope) -> tuple[bool, int | None]:
    """(whether a body may follow, its declared length)."""
    chunked = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
            return length != 0, length
        if name == b"transfer-encoding":
            chunked = True
    return chunked, None


class Guard:
    """Wrap an ASGI app: body limits, body read timeout, 500s rendered, 5xx close."""

    def __init__(self, app: ASGIApp, errors: ErrorMap | None = None,
                 limits: Limits | None = None) -> None:
        self.app = app
        self.errors = errors or ErrorMap.standard()
        self.limits = limits or Limits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limits.max_body
        has_body, declared = _body_expected(scope)
        if declared is not None and declared > limit:
            await self._refuse(send, BodyTooLarge(limit))
            return
        state = _Exchange(receive, send, limit, self.limits.body_timeout_s)
        try:
            # No body to guard (most GETs): the server's receive as it is, one frame less.
            await self.app(scope, state.receive if has_body else receive, state.send)
        except Exception as exc:  # the edge: nothing leaves as a traceback
            refusal = state.refusal
            if state.started:
                if refusal is None:
                    self.errors.logger.error("error after the response started", exc_info=exc)
                if not state.completed:
                    raise  # too late for a problem: the server drops the connection
                return
            await self._refuse(send, refusal or exc)
            return
        if state.refusal is not None and not state.started:
            # The app swallowed our refusal (caught the exception) without answering.
            await self._refuse(send, state.refusal)

    async def _refuse(self, send: Send, exc: BaseException) -> None:
        response = self.errors.response(exc)
        headers = [(k, v) for k, v in response.raw_headers if k != b"connection"]
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": [*headers, _CLOSE]})
        await send({"type": "http.response.body", "body": response.body})


class _Exchange:
    """One request's receive/send, counted, timed and watched for 5xx."""

    __slots__ = ("_body_done", "_limit", "_receive", "_seen", "_send", "_timeout_s",
                 "completed", "refusal", "started")

    def __init__(self, receive: Receive, send: Send, limit: int, timeout_s: float) -> None:
        self._receive = receive
        self._send = send
        self._limit = limit
        self._timeout_s = timeout_s
        self._seen = 0
        self._body_done = False
        self.started = False
        self.completed = False
        self.refusal: BodyTooLarge | BodyTimeout | None = None

    async def receive(self) -> Message:
        if self.refusal is not None:
            raise self.refusal
        if self._body_done:  # after the body, receive waits for a disconnect: no deadline
            return await self._receive()
        try:
            message = await asyncio.wait_for(self._receive(), self._timeout_s)
        except TimeoutError:
            self.refusal = BodyTimeout(self._timeout_s)
            raise self.refusal from None
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit:
                self.refusal = BodyTooLarge(self._limit)
                raise self.refusal
            self._body_done = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if self.refusal is not None:
            return  # the app's answer to a refused body is replaced by the refusal
        if message["type"] == "http.response.start":
            self.started = True
            if message["status"] >= 500:
                headers = [(k, v) for k, v in message.get("headers", ())
                           if k.lower() != b"connection"]
                message = {**message, "headers": [*headers, _CLOSE]}
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            self.completed = True
        await self._send(message)
