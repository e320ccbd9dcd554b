"""The shop's exception tree mapped to RFC 9457 problems, once, with ``bazaar.web``'s
renderer. Nothing else in the API builds an error."""

from __future__ import annotations

import logging

from bazaar.shop.domain import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    NotHeld,
    RetryableConflict,
    ShopError,
    SoldOut,
    StateConflict,
    Unavailable,
)
from bazaar.web import PROBLEM_JSON, ErrorMap, Problem

__all__ = ["PROBLEM_JSON", "ShopProblem", "Unauthenticated", "shop_errors"]

log = logging.getLogger("bazaar.api")


class ShopProblem(Problem, kw_only=True):
    """A problem as the shop sends it: ``bazaar.web``'s members plus what a 409 sold-out
    carries."""

    #: Sold out: how many were asked for, and how many are left.
    requested: int | None = None
    available: int | None = None


class Unauthenticated(Exception):
    """No (valid) identity on a request that needs one."""


def shop_errors() -> ErrorMap:
    """Every exception the shop's API lets out, mapped (most specific class wins)."""
    return (
        ErrorMap.standard(log)
        .add(InvalidInput, 422, "invalid-input", "Invalid input", detail=lambda e: e.message,
             extensions=lambda e: {"field": e.field})
        .add(IdempotencyKeyReused, 422, "idempotency-key-reused", "Idempotency-Key reused",
             extensions=lambda e: {"field": "Idempotency-Key"})
        .add(NotFound, 404, "not-found", "Not found")
        .add(SoldOut, 409, "sold-out", "Sold out", retryable=False,
             extensions=lambda e: {"requested": e.requested, "available": e.available})
        .add(RetryableConflict, 409, "retry", "Conflict, please retry", retryable=True,
             detail=lambda e: "another request changed the same items at the same moment; "
                              "nothing was written, send the request again",
             headers=lambda e: {"Retry-After": "1"})
        .add(StateConflict, 409, "conflict", "Conflict", retryable=False,
             extensions=lambda e: {"reason": e.reason} if e.reason else {})
        .add(Forbidden, 403, "forbidden", "Forbidden")
        .add(Unauthenticated, 401, "unauthenticated", "Unauthenticated",
             headers=lambda e: {"WWW-Authenticate": 'Bearer realm="bazaar"'})
        .add(Unavailable, 503, "unavailable", "Service unavailable", retryable=True,
             headers=lambda e: {"Retry-After": str(e.retry_after_s)})
        # A broken invariant (logged by the service), not the client's doing: nothing changed.
        .add(NotHeld, 500, "inconsistent-state", "Inconsistent state")
        .add(ShopError, 400, "bad-request", "Bad request")
    )
