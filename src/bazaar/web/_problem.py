"""RFC 9457 problem details: the one renderer every Bazaar HTTP frontend uses.

Every problem's ``type`` is :data:`TYPE_BASE` followed by a slug (``not-found``,
``auth/token-expired``). The base is under ``.invalid`` (RFC 2606): reserved, so it never
resolves to someone else's site; clients compare it as an opaque identifier. Every problem
also carries ``reason`` (the slug's last part unless given), a stable code to switch on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import msgspec
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://bazaar.invalid/problems/"

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """The members every Bazaar problem may carry (RFC 9457 §3 plus our extensions).

    Components add their own members by subclassing (the OpenAPI schema then lists them).
    """

    type: str
    title: str
    status: int
    detail: str = ""
    #: A stable, machine-readable code (``not-found``, ``token-expired``); always sent.
    reason: str = ""
    #: Dotted path of the offending input (``lines.0.quantity``, ``after``, ``body``).
    field: str | None = None
    #: True when the same request may succeed if sent again (see ``Retry-After``).
    retryable: bool | None = None


_ENCODER = msgspec.json.Encoder()


def problem_body(status: int, slug: str, title: str, detail: str = "", *,
                 reason: str | None = None, **extensions: Any) -> bytes:
    """The problem+json bytes. ``extensions`` with a value of None are left out."""
    body: dict[str, Any] = {"type": TYPE_BASE + slug, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body["reason"] = reason or slug.rsplit("/", 1)[-1]
    body.update((k, v) for k, v in extensions.items() if v is not None)
    return _ENCODER.encode(body)


def problem(status: int, slug: str, title: str, detail: str = "", *,
            headers: Mapping[str, str] | None = None, reason: str | None = None,
            **extensions: Any) -> Response:
    """A Starlette response carrying one problem."""
    return Response(problem_body(status, slug, title, detail, reason=reason, **extensions),
                    status_code=status, media_type=PROBLEM_JSON, headers=headers)


async def send_problem(send: Send, status: int, slug: str, title: str, detail: str = "", *,
                       headers: list[tuple[bytes, bytes]] | None = None,
                       reason: str | None = None, **extensions: Any) -> None:
    """Send one problem straight over ASGI (for middleware that answers before the app)."""
    body = problem_body(status, slug, title, detail, reason=reason, **extensions)
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
