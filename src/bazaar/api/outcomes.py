"""The shop's errors as the non-REST styles name them, classified once.

REST maps the same exceptions to problem+json in :mod:`bazaar.api.problems`; GraphQL
(``extensions.code``), gRPC (status codes and ``google.rpc`` details) and SOAP (fault codes)
all start from the :class:`Outcome` this module gives, so the four styles agree on what each
failure is: the conformance suite checks that they do.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any

from bazaar.api.problems import Unauthenticated
from bazaar.auth import AuthenticationFailed, AuthUnavailable, RateLimited
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

@dataclass(frozen=True)
class Outcome:
    """A failure as every style reports it: a stable ``code``, a message for people, whether
    the same request may succeed later, and the machine-readable details (``field`` for bad
    input; ``requested``/``available`` for sold out; ``reason``; ``retry_after_s``)."""

    code: str
    message: str
    retryable: bool = False
    field: str | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)


def invalid(field_name: str, message: str) -> Outcome:
    return Outcome("BAD_USER_INPUT", f"{field_name}: {message}", field=field_name)


def classify(exc: BaseException) -> Outcome:
    """The outcome for an exception a use case (or the identity check) raised; anything
    unexpected is logged with its traceback and reported as ``INTERNAL`` without details."""
    match exc:
        case InvalidInput():
            return invalid(exc.field, exc.message)
        case IdempotencyKeyReused():
            return Outcome("IDEMPOTENCY_KEY_REUSED", str(exc), field="idempotency_key")
        case NotFound():
            return Outcome("NOT_FOUND", str(exc), details={"kind": exc.kind})
        case SoldOut():
            return Outcome("SOLD_OUT", str(exc), details={"requested": exc.requested,
                                                          "available": exc.available})
        case RetryableConflict():
            return Outcome("RETRY", "another request changed the same items at the same "
                           "moment; nothing was written, send the request again",
                           retryable=True, details={"retry_after_s": 1})
        case StateConflict():
            return Outcome("CONFLICT", str(exc),
                           details={"reason": exc.reason} if exc.reason else {})
        case Forbidden():
            return Outcome("FORBIDDEN", str(exc))
        case Unauthenticated():
            return Outcome("UNAUTHENTICATED", str(exc) or "this operation needs an identity")
        case AuthenticationFailed():
            return Outcome("UNAUTHENTICATED", exc.detail, details={"reason": exc.reason})
        case RateLimited():
            return Outcome("RATE_LIMITED", "slow down", retryable=True,
                           details={"reason": exc.reason,
                                    "retry_after_s": max(1, round(exc.retry_after))})
        case Unavailable():
            return Outcome("UNAVAILABLE", str(exc), retryable=True,
                           details={"retry_after_s": exc.retry_after_s})
        case AuthUnavailable():
            return Outcome("UNAVAILABLE", str(exc), retryable=True, details={"retry_after_s": 1})
        case ShopError():
            return Outcome("BAD_USER_INPUT", str(exc))
    log.error("unexpected error in an API call", exc_info=exc)
    return Outcome("INTERNAL", "internal error; nothing is known to have changed")
