"""HTTP conventions clients expect of a REST API: validators and ``304 Not Modified``
(RFC 9110 §8.8.3, §13.1.2), ``Link: rel="next"`` beside a body cursor (RFC 8288), and the
IETF RateLimit headers beside ``Retry-After`` (draft-ietf-httpapi-ratelimit-headers)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def etag_of(body: bytes) -> bytes:
    """A strong validator: the same representation bytes, the same tag."""
    return b'"' + hashlib.blake2b(body, digest_size=12).hexdigest().encode() + b'"'


def none_match(if_none_match: bytes | str | None, etag: bytes) -> bool:
    """True when ``If-None-Match`` names ``etag`` (weak comparison, as §13.1.2 says)."""
    if not if_none_match:
        return False
    raw = if_none_match.encode("latin-1") if isinstance(if_none_match, str) else if_none_match
    if raw.strip() == b"*":
        return True
    tag = etag.removeprefix(b"W/")
    return any(t.strip().removeprefix(b"W/") == tag for t in raw.split(b","))


def conditional(request: Request, response: Response) -> Response:
    """``response`` with an ``ETag``; a ``304`` with no body when the client has it already."""
    tag = etag_of(bytes(response.body))
    if none_match(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers={"ETag": tag.decode()})
    response.headers["ETag"] = tag.decode()
    return response


def next_link(request: Request, next_after: int | None) -> dict[str, str]:
    """``Link: </products?after=N&…>; rel="next"`` (the query kept, ``after`` replaced)."""
    if next_after is None:
        return {}
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "after"]
    params.append(("after", str(next_after)))
    return {"Link": f'<{request.url.path}?{urlencode(params)}>; rel="next"'}


@dataclass(frozen=True)
class RatePolicy:
    """One token bucket as the draft names it: ``q`` requests per ``w`` seconds."""

    name: str
    quota: int
    window_s: int

    def header(self) -> bytes:
        return f'"{self.name}";q={self.quota};w={self.window_s}'.encode()

    @classmethod
    def bucket(cls, name: str, per_s: float, burst: float) -> RatePolicy:
        """A bucket of ``burst`` tokens refilled at ``per_s``: ``burst`` per the time it
        takes to refill it (at least a second)."""
        return cls(name, int(burst), max(1, round(burst / per_s)))


class RateLimitHeaders:
    """ASGI middleware: ``RateLimit-Policy`` on every answer; on a 429, ``RateLimit`` with
    no quota left until ``Retry-After``. ``policies`` maps a path to its policy (``""``: the
    rest)."""

    def __init__(self, app: ASGIApp, policies: Mapping[str, RatePolicy]) -> None:
        self.app = app
        self.policies = dict(policies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope["path"]) or self.policies.get("")
        if policy is None:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                headers.append((b"ratelimit-policy", policy.header()))
                if message["status"] == 429:
                    wait = next((v for k, v in headers if k.lower() == b"retry-after"), b"1")
                    headers.append((b"ratelimit",
                                    b'"' + policy.name.encode() + b'";r=0;t=' + wait))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
