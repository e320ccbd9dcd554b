"""The app factory: routes from the operations table, problem+json errors, an identity
middleware passed in by the composition root (``bazaar.auth``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from bazaar.api import openapi
from bazaar.api.hot import HotReads
from bazaar.api.problems import BodyTooLarge, Unauthenticated, handle
from bazaar.api.routes import Operation, ShopRoutes
from bazaar.api.service import ServiceRoutes, ServiceStatus
from bazaar.shop.domain import ShopError
from bazaar.shop.services import Shop

Identity = Callable[[ASGIApp], ASGIApp]


def create_app(shop: Shop, *, identity: Identity | None, health: Callable[[], None],
               extra: list[Operation] | None = None, services: ServiceStatus | None = None,
               title: str = "Bazaar", version: str = "0.1.0") -> Starlette:
    """The REST app over ``shop``. ``identity`` wraps the app to set the principal;
    ``health`` raises (e.g. ``Unavailable``) when the database cannot be reached;
    ``services`` (``bazaar up``'s supervisor) feeds ``GET /health`` and ``GET /``."""
    handlers = ShopRoutes(shop)
    own = ServiceRoutes(health, services, title, version)
    # e.g. api.engagement's operations in extra
    operations = handlers.operations() + own.operations() + (extra or [])
    document = msgspec.json.encode(openapi.build(operations, title=title, version=version))
    page = openapi.docs_page(operations, title)

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    routes = [Route(op.path, op.endpoint, methods=[op.method]) for op in operations]
    routes += [Route("/openapi.json", openapi_json, methods=["GET"]),
               Route("/docs", docs, methods=["GET"])]
    # The identity callable is itself the middleware factory (no adapter layer); the hot
    # read path sits just inside it, where the principal is known.
    middleware = [Middleware(identity)] if identity is not None else []
    middleware.append(Middleware(HotReads, shop=shop))
    exception_handlers: dict[Any, Any] = {
        kind: handle for kind in (ShopError, Unauthenticated, BodyTooLarge, msgspec.ValidationError,
                                  msgspec.DecodeError, HTTPException, Exception)}
    app = Starlette(routes=routes, middleware=middleware, exception_handlers=exception_handlers)
    app.state.operations = operations
    return app
