"""One error-to-status mapping style: an :class:`ErrorMap` of exception class → problem.

A frontend lists its exception tree once; the map answers for the most specific class in an
exception's MRO, serves as Starlette exception handlers, and renders anything unmapped as a
logged 500 that says nothing about the internals.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from bazaar.web._problem import problem

log = logging.getLogger("bazaar.web")

Extensions = Callable[[Any], Mapping[str, Any]]
Headers = Callable[[Any], Mapping[str, str]]


class BodyTooLarge(Exception):
    """The request body is larger than the frontend accepts (413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body may be at most {limit} bytes")
        self.limit = limit


class BodyTimeout(Exception):
    """The client stopped sending the request body (408)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no body bytes arrived for {timeout_s:g} s")
        self.timeout_s = timeout_s


@dataclass(frozen=True)
class Mapped:
    """How one exception class leaves the API."""

    status: int
    slug: str
    title: str
    #: The ``detail``; default ``str(exc)``.
    detail: Callable[[Any], str] = str
    retryable: bool | None = None
    headers: Headers | None = None
    extensions: Extensions | None = None


_MSGSPEC_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object (?:missing required|contains unknown) field `(?P<name>[^`]+)`")


def field_of(error: msgspec.ValidationError) -> tuple[str, str]:
    """``Expected int - at `$.lines[0].quantity``` → (``lines.0.quantity``, message); a
    missing or unknown field is named too (``Object missing required field `x` - at
    `$.a[0]``` → ``a.0.x``)."""
    text = str(error)
    match = _MSGSPEC_PATH.search(text)
    path, message = ("", text) if not match else (match.group("path"), text[: match.start()])
    path = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    missing = _MISSING.match(message)
    if missing:
        path = f"{path}.{missing.group('name')}".lstrip(".")
    return path or "body", message


def _http_slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-").replace("'", "")
    except ValueError:
        return "http-error"


@dataclass
class ErrorMap:
    """Exception class → :class:`Mapped`. Build with :meth:`standard` and :meth:`add`."""

    entries: dict[type[BaseException], Mapped] = field(default_factory=dict)
    logger: logging.Logger = log

    @classmethod
    def standard(cls, logger: logging.Logger = log) -> ErrorMap:
        """The mappings every frontend shares: msgspec decode errors → 422 naming the field,
        :class:`BodyTooLarge` → 413, :class:`BodyTimeout` → 408, Starlette's HTTPException →
        its own status."""
        errors = cls(logger=logger)
        errors.add(msgspec.ValidationError, 422, "invalid-input", "Invalid input",
                   detail=lambda e: field_of(e)[1],
                   extensions=lambda e: {"field": field_of(e)[0]})
        errors.add(msgspec.DecodeError, 422, "invalid-input", "Invalid input",
                   detail=lambda e: f"malformed JSON: {e}", extensions=lambda e: {"field": "body"})
        errors.add(BodyTooLarge, 413, "body-too-large", "Content too large",
                   extensions=lambda e: {"field": "body"})
        errors.add(BodyTimeout, 408, "body-timeout", "Request timeout")
        # A client that hung up mid-body: nobody reads the answer, and it is not our error
        # (no "unhandled error" traceback). 499 is nginx's "client closed request".
        errors.add(ClientDisconnect, 499, "client-disconnected", "Client closed request")
        return errors

    def add(self, kind: type[BaseException], status: int, slug: str, title: str, *,
            detail: Callable[[Any], str] = str, retryable: bool | None = None,
            headers: Headers | None = None, extensions: Extensions | None = None) -> ErrorMap:
        """Map ``kind`` (and its subclasses, unless they have their own entry)."""
        self.entries[kind] = Mapped(status, slug, title, detail, retryable, headers, extensions)
        return self

    def lookup(self, exc: BaseException) -> Mapped | None:
        for kind in type(exc).__mro__:
            found = self.entries.get(kind)
            if found is not None:
                return found
        return None

    def response(self, exc: BaseException) -> Response:
        """The problem response for ``exc``; unmapped exceptions are logged and become 500."""
        mapped = self.lookup(exc)
        if mapped is not None:
            extra = dict(mapped.extensions(exc)) if mapped.extensions else {}
            extra.setdefault("retryable", mapped.retryable)
            return problem(mapped.status, mapped.slug, mapped.title, mapped.detail(exc),
                           headers=mapped.headers(exc) if mapped.headers else None, **extra)
        if isinstance(exc, HTTPException):
            return problem(exc.status_code, _http_slug(exc.status_code), str(exc.detail),
                           headers=exc.headers)
        self.logger.error("unhandled error", exc_info=exc)
        return problem(500, "internal", "Internal server error",
                       "something went wrong on our side; the request may be sent again")

    async def handle(self, request: Request, exc: Exception) -> Response:
        """A Starlette exception handler."""
        return self.response(exc)

    def handlers(self) -> dict[Any, Any]:
        """``exception_handlers=`` for Starlette: every mapped class and HTTPException.

        Unmapped exceptions are caught by :class:`~bazaar.web.Guard` (outside the router),
        which renders them with this map and closes the connection.
        """
        out: dict[Any, Any] = {kind: self.handle for kind in self.entries}
        out[HTTPException] = self.handle
        return out
