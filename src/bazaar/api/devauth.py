"""DEVELOPMENT ONLY identity: ``X-Bazaar-Dev-User: <user id>`` trusts the caller's word.

Until ``bazaar.auth`` is wired in, this middleware turns that header into a principal (the
user's scopes are looked up once and remembered). It authenticates nothing: never expose
an app using it beyond localhost. Swapping in real auth replaces this one middleware.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.api.principal import SCOPE_KEY
from bazaar.api.problems import for_exception, problem

HEADER = b"x-bazaar-dev-user"


@dataclass(frozen=True, slots=True)
class DevPrincipal:
    """Same shape as ``bazaar.auth.Principal``: kind, id, scopes."""

    id: str
    scopes: frozenset[str]
    kind: str = "user"
    scheme: str = "dev-header"


#: ``await resolve(user_id)`` → the user's scopes, or None if there is no such user.
ScopeResolver = Callable[[int], Awaitable[Iterable[str] | None]]


class DevIdentityMiddleware:
    """Put a :class:`DevPrincipal` in ``scope["bazaar.principal"]`` for the dev header."""

    def __init__(self, app: ASGIApp, resolve: ScopeResolver) -> None:
        self.app = app
        self.resolve = resolve
        self._known: dict[int, DevPrincipal] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = next((v for k, v in scope["headers"] if k == HEADER), None)
            if raw is not None:
                try:
                    found = await self._principal(raw)
                except Exception as exc:  # e.g. the database is down: 503, not 500
                    await for_exception(exc)(scope, receive, send)
                    return
                if found is None:
                    response = problem(401, "unauthenticated", "Unauthenticated",
                                       "X-Bazaar-Dev-User must be the id of a registered user")
                    await response(scope, receive, send)
                    return
                scope[SCOPE_KEY] = found
        await self.app(scope, receive, send)

    async def _principal(self, raw: bytes) -> DevPrincipal | None:
        if not raw.isdigit() or len(raw) > 18:
            return None
        uid = int(raw)
        known = self._known.get(uid)
        if known is None:
            scopes = await self.resolve(uid)
            if scopes is None:
                return None
            known = self._known[uid] = DevPrincipal(str(uid), frozenset(scopes))
        return known


def dev_identity(resolve: ScopeResolver) -> Callable[[ASGIApp], ASGIApp]:
    """The identity layer for :func:`bazaar.api.create_app`."""
    return lambda app: DevIdentityMiddleware(app, resolve)
