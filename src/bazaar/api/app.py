"""The app factory: routes from the operations table, problem+json errors and request limits
(``bazaar.web``), an identity middleware passed in by the composition root (``bazaar.auth``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Lifespan

from bazaar.api import openapi
from bazaar.api.conventions import RateLimitHeaders, RatePolicy
from bazaar.api.hot import HotReads
from bazaar.api.problems import shop_errors
from bazaar.api.refusals import NativeRefusals, Renderer
from bazaar.api.routes import Endpoint, Operation, ShopRoutes
from bazaar.api.service import ServiceRoutes, ServiceStatus
from bazaar.shop.services import Shop
from bazaar.telemetry import HttpMetrics, Telemetry, http_metrics, metrics_response
from bazaar.web import Guard, Limits, routes_by_path

Identity = Callable[[ASGIApp], ASGIApp]

CORS_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
CORS_REQUEST_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "If-None-Match",
                        "Signature", "Signature-Input", "Content-Digest")
CORS_EXPOSED_HEADERS = ("ETag", "Link", "Location", "Retry-After", "RateLimit",
                        "RateLimit-Policy", "Idempotent-Replayed")

#: Swagger UI, vendored (see its VENDORED.md).
SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"

#: The shop's bodies are small JSON documents; anything bigger is refused before it is read.
SHOP_LIMITS = Limits(max_body=64 * 1024)


def by_path(operations: list[Operation], mounted: Sequence[BaseRoute] = ()) -> list[BaseRoute]:
    """One route per path, dispatching on the method, so that a 405's ``Allow`` and an
    ``OPTIONS`` answer list every method the path has (not only the first route's).
    ``mounted``: another component's routes (``bazaar.auth``'s), folded in the same way."""
    table: dict[str, dict[str, Endpoint]] = {}
    for op in operations:
        if op.endpoint is not None:
            table.setdefault(op.path, {})[op.method] = op.endpoint
    others: list[BaseRoute] = []
    for route in mounted:
        if not isinstance(route, Route):
            others.append(route)  # a Mount, say: routed as it is
            continue
        for method in route.methods or ():
            if method != "HEAD":
                table.setdefault(route.path, {})[method] = route.endpoint
    return routes_by_path(table) + others


def create_app(shop: Shop, *, identity: Identity | None, health: Callable[[], None],
               extra: list[Operation] | None = None, services: ServiceStatus | None = None,
               title: str = "Bazaar", version: str = "0.1.0",
               limits: Limits | None = None, mounted: Sequence[BaseRoute] = (),
               cors_origins: Sequence[str] = (),
               rate_policies: Mapping[str, RatePolicy] | None = None,
               metrics: HttpMetrics | None = None, access_log: bool = False,
               styles: Sequence[BaseRoute] = (),
               native_errors: Mapping[str, Renderer] | None = None,
               lifespan: Lifespan[Starlette] | None = None) -> Starlette:
    """The REST app over ``shop``. ``identity`` wraps the app to set the principal;
    ``health`` raises (e.g. ``Unavailable``) when the database cannot be reached;
    ``services`` (``bazaar up``'s supervisor) feeds ``GET /health`` and ``GET /``;
    ``limits`` bound request bodies (default: 64 KiB, the shop's bodies are small JSON);
    ``mounted`` are routes another component serves in this app (documented in ``extra``
    with no endpoint); ``cors_origins`` the origins browsers may call from (``*``: any);
    ``rate_policies`` the identity's rate limits, announced in ``RateLimit-Policy``;
    ``metrics`` (default: a fresh set) are served at ``GET /metrics``; ``access_log`` writes
    one structured line per request; ``styles`` are the other API styles' routes (GraphQL,
    SOAP), and ``native_errors`` re-render refusals on their paths in their own shape;
    ``lifespan`` runs what serves beside the app (the gRPC server)."""
    handlers = ShopRoutes(shop)
    own = ServiceRoutes(health, services, title, version)
    # e.g. api.redis_structures' operations in extra
    operations = handlers.operations() + own.operations() + (extra or [])
    document = msgspec.json.encode(openapi.build(operations, title=title, version=version))
    page = openapi.docs_page(operations, title)

    async def openapi_json(request: Request) -> Response:
        return Response(document, media_type="application/json")

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    http = metrics or http_metrics("shop")

    async def metrics_text(request: Request) -> Response:
        body, content_type = metrics_response(http.registry)
        return Response(body, media_type=content_type)

    routes = by_path(operations, mounted)
    routes += [Route("/openapi.json", openapi_json, methods=["GET"]),
               Route("/docs", docs, methods=["GET"]),
               Route("/metrics", metrics_text, methods=["GET"]),
               Mount("/docs/static", StaticFiles(directory=SWAGGER_UI), name="swagger-ui"),
               *styles]
    errors = shop_errors()
    # Outermost: metrics, request id and access log, so that every answer is counted; then
    # the body limit (before anyone buffers, auth included), 500s, 5xx close.
    middleware = [Middleware(Telemetry, metrics=http, access_log=access_log,
                             routes=lambda: app.router.routes)]
    if native_errors:  # outside the body limit and the identity: their refusals too
        middleware.append(Middleware(NativeRefusals, renderers=native_errors))
    middleware += [Middleware(Guard, errors=errors, limits=limits or SHOP_LIMITS)]
    if rate_policies:
        middleware.append(Middleware(RateLimitHeaders, policies=rate_policies))
    if cors_origins:
        # Outside the identity: a preflight carries no credentials and must not get 401.
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(cors_origins),
                                     allow_methods=list(CORS_METHODS),
                                     allow_headers=list(CORS_REQUEST_HEADERS),
                                     expose_headers=list(CORS_EXPOSED_HEADERS), max_age=600))
    # The identity callable is itself the middleware factory (no adapter layer); the hot
    # read path sits just inside it, where the principal is known.
    if identity is not None:
        middleware.append(Middleware(identity))
    middleware.append(Middleware(HotReads, shop=shop))
    exception_handlers: dict[Any, Any] = errors.handlers()
    app: Starlette = Starlette(routes=routes, middleware=middleware,
                               exception_handlers=exception_handlers, lifespan=lifespan)
    app.state.operations = operations
    app.state.metrics = http
    return app

