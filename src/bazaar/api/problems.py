"""RFC 9457 problem details: every error leaves the API as ``application/problem+json``.

The shop's exception tree is mapped here, once. Nothing else in the API builds an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from bazaar.shop.domain import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RetryableConflict,
    ShopError,
    SoldOut,
    StateConflict,
    Unavailable,
)

log = logging.getLogger("bazaar.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://bazaar.invalid/problems/"


class Problem(msgspec.Struct, omit_defaults=True):
    """RFC 9457 problem details, plus the fields Bazaar adds."""

    type: str
    title: str
    status: int
    detail: str = ""
    #: Dotted path of the offending input, for 422 (e.g. ``lines.0.quantity``).
    field: str | None = None
    #: True when the same request may succeed if sent again.
    retryable: bool | None = None
    requested: int | None = None
    available: int | None = None
    #: A short word for why a 409 conflict happened (e.g. ``checking_out``).
    reason: str | None = None


class BodyTooLarge(Exception):
    """The request body is larger than the API accepts (413)."""


class Unauthenticated(Exception):
    """No (valid) identity on a request that needs one."""


_ENCODER = msgspec.json.Encoder()


def problem(status: int, slug: str, title: str, detail: str = "",
            headers: Mapping[str, str] | None = None, **extra: Any) -> Response:
    body = Problem(type=TYPE_BASE + slug, title=title, status=status, detail=detail, **extra)
    return Response(_ENCODER.encode(body), status_code=status, media_type=PROBLEM_JSON,
                    headers=headers)


_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def field_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """``Expected int - at `$.lines[0].quantity``` → (``lines.0.quantity``, message)."""
    text = str(error)
    match = _MSGSPEC_PATH.search(text)
    if not match:
        return "body", text
    path = re.sub(r"\[(\d+)\]", r".\1", match.group("path")).lstrip(".")
    return path or "body", text[: match.start()]


def for_exception(exc: Exception) -> Response:
    """The problem response for any exception the API lets out."""
    if isinstance(exc, InvalidInput):
        return problem(422, "invalid-input", "Invalid input", exc.message, field=exc.field)
    if isinstance(exc, msgspec.ValidationError):
        path, message = field_of(exc)
        return problem(422, "invalid-input", "Invalid input", message, field=path)
    if isinstance(exc, msgspec.DecodeError):
        return problem(422, "invalid-input", "Invalid input", f"malformed JSON: {exc}",
                       field="body")
    if isinstance(exc, BodyTooLarge):
        return problem(413, "body-too-large", "Body too large", str(exc), field="body")
    if isinstance(exc, IdempotencyKeyReused):
        return problem(422, "idempotency-key-reused", "Idempotency-Key reused", str(exc),
                       field="Idempotency-Key")
    if isinstance(exc, NotFound):
        return problem(404, "not-found", "Not found", str(exc))
    if isinstance(exc, SoldOut):
        return problem(409, "sold-out", "Sold out", str(exc), retryable=False,
                       requested=exc.requested, available=exc.available)
    if isinstance(exc, RetryableConflict):
        return problem(409, "retry", "Conflict, please retry",
                       "another request changed the same items at the same moment; "
                       "nothing was written, send the request again",
                       headers={"Retry-After": "1"}, retryable=True)
    if isinstance(exc, StateConflict):
        return problem(409, "conflict", "Conflict", str(exc), retryable=False,
                       reason=exc.reason)
    if isinstance(exc, Forbidden):
        return problem(403, "forbidden", "Forbidden", str(exc))
    if isinstance(exc, Unauthenticated):
        return problem(401, "unauthenticated", "Unauthenticated", str(exc))
    if isinstance(exc, Unavailable):
        return problem(503, "unavailable", "Service unavailable", str(exc),
                       headers={"Retry-After": str(exc.retry_after_s)}, retryable=True)
    if isinstance(exc, ShopError):
        return problem(400, "bad-request", "Bad request", str(exc))
    if isinstance(exc, HTTPException):
        return problem(exc.status_code, "http", str(exc.detail), headers=exc.headers)
    log.exception("unhandled error", exc_info=exc)
    return problem(500, "internal", "Internal server error",
                   "something went wrong on our side; nothing is half-written")


async def handle(request: Request, exc: Exception) -> Response:
    """Starlette exception handler for everything."""
    return for_exception(exc)
