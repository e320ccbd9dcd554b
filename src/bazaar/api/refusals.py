"""Refusals made before a style's own code runs — the identity middleware's 401/429/503, the
body limit's 413, a 500 — are rendered as problem+json by ``bazaar.web``. A GraphQL or SOAP
client expects its own error shape, so on those paths this middleware re-renders such an
answer natively (GraphQL ``errors`` with ``extensions.code``, a SOAP fault), keeping its
status and headers (``WWW-Authenticate``, ``Retry-After``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bazaar.api.outcomes import Outcome
from bazaar.web import PROBLEM_JSON

_CODES = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 408: "BAD_USER_INPUT",
          413: "BAD_USER_INPUT", 429: "RATE_LIMITED", 503: "UNAVAILABLE"}


@dataclass(frozen=True)
class Rendered:
    body: bytes
    content_type: str


#: (the refusal as an outcome, the request's headers) → the style's body.
Renderer = Callable[[Outcome, Mapping[str, str]], Rendered]


def outcome_of(status: int, problem: Mapping[str, Any]) -> Outcome:
    reason = str(problem.get("type", "")).rsplit("/", 1)[-1] or None
    code = _CODES.get(status, "INTERNAL" if status >= 500 else "BAD_USER_INPUT")
    details: dict[str, Any] = {"reason": reason} if reason else {}
    return Outcome(code, str(problem.get("detail") or problem.get("title") or "refused"),
                   retryable=status in (429, 503), details=details)


class NativeRefusals:
    """Re-render problem+json answers on the paths of ``renderers`` (exact paths)."""

    def __init__(self, app: ASGIApp, renderers: Mapping[str, Renderer]) -> None:
        self.app = app
        self.renderers = renderers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        renderer = self.renderers.get(scope.get("path", "")) if scope["type"] == "http" \
            else None
        if renderer is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        start: MutableMapping[str, Any] | None = None
        chunks: list[bytes] = []

        async def intercept(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.decode("latin-1").startswith(PROBLEM_JSON):
                    start = message
                    return
                await send(message)
                return
            if start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            try:
                problem = msgspec.json.decode(b"".join(chunks))
            except msgspec.DecodeError:
                problem = {}
            status = int(start["status"])
            rendered = renderer(outcome_of(status, problem), headers)
            kept = [(k, v) for k, v in start.get("headers", ())
                    if k not in (b"content-type", b"content-length")]
            kept += [(b"content-type", rendered.content_type.encode()),
                     (b"content-length", str(len(rendered.body)).encode())]
            await send({"type": "http.response.start", "status": status, "headers": kept})
            await send({"type": "http.response.body", "body": rendered.body})

        await self.app(scope, receive, intercept)
