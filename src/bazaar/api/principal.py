"""Who is calling: read from the ASGI scope, where an identity middleware put it.

The identity middleware (``bazaar.auth``: a Bearer token or an RFC 9421 signature) puts an
object with ``kind``, ``id`` and ``scopes`` under :data:`SCOPE_KEY`. Nothing else in the API
knows how the caller was identified.
"""

from __future__ import annotations

from collections.abc import Set
from typing import Protocol

from starlette.requests import Request

from bazaar.api.problems import Unauthenticated
from bazaar.shop.domain import Forbidden

SCOPE_KEY = "bazaar.principal"


class Principal(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def id(self) -> str: ...
    @property
    def scopes(self) -> Set[str]: ...


def principal(request: Request, scope: str | None = None) -> Principal:
    """The caller, holding ``scope`` if given; else 401/403."""
    return require(request.scope.get(SCOPE_KEY), scope)


def user_id(request: Request, scope: str | None = None) -> int:
    """The calling user's id (apps cannot place orders or book rooms)."""
    return require_user(request.scope.get(SCOPE_KEY), scope)


def require(found: Principal | None, scope: str | None = None) -> Principal:
    """``found``, holding ``scope`` if given; else :class:`Unauthenticated` / ``Forbidden``.
    Every style (REST, GraphQL, gRPC, SOAP) checks its caller here."""
    if found is None:
        raise Unauthenticated("this operation needs an identity")
    if scope is not None and scope not in found.scopes:
        raise Forbidden(f"this operation needs the scope {scope!r}")
    return found


def viewer(found: Principal) -> int | None:
    """The shop user behind ``found`` for analytics (None: an app or a foreign identity)."""
    if found.kind != "user" or not found.id.isdigit():
        return None
    return int(found.id)


def require_user(found: Principal | None, scope: str | None = None) -> int:
    """The calling user's id, holding ``scope`` (apps cannot place orders or book rooms)."""
    found = require(found, scope)
    if found.kind != "user":
        raise Forbidden("only a user can do this")
    try:
        return int(found.id)
    except ValueError as exc:
        raise Forbidden("this identity is not a shop user") from exc
