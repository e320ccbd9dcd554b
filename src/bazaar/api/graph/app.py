"""``/graphql`` on the shop's ASGI app: strawberry's GraphQL-over-HTTP (POST) and
GraphQL-over-WebSocket (``graphql-transport-ws`` and the older ``graphql-ws``) transports,
behind the same identity middleware as REST; ``GET /graphiql`` (GraphiQL, vendored) and
``GET /graphql/schema.graphql`` (the SDL) are public."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from bazaar.api.graph.context import ShopContext
from bazaar.api.graph.errors import extensions, formatted
from bazaar.api.graph.limits import QueryLimits
from bazaar.api.graph.schema import build_schema
from bazaar.api.outcomes import Outcome
from bazaar.api.principal import SCOPE_KEY
from bazaar.api.refusals import Rendered
from bazaar.shop.services import Shop
from bazaar.shop.services.checkout import CheckoutStarter

GRAPHQL_RESPONSE = "application/graphql-response+json"
MAX_SUBSCRIPTIONS = 10
STATIC = Path(__file__).parent / "static"

GRAPHIQL = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Bazaar GraphQL</title>
<link rel="stylesheet" href="/graphiql/static/graphiql.min.css">
<style>body{margin:0;height:100vh}#graphiql{height:100vh}</style></head>
<body><div id="graphiql">Loading GraphiQL…</div>
<script src="/graphiql/static/react.production.min.js"></script>
<script src="/graphiql/static/react-dom.production.min.js"></script>
<script src="/graphiql/static/graphiql.min.js"></script>
<script>
const fetcher = GraphiQL.createFetcher({url: '/graphql'});
ReactDOM.createRoot(document.getElementById('graphiql')).render(
  React.createElement(GraphiQL, {fetcher, shouldPersistHeaders: true,
    defaultHeaders: '{"Authorization": "Bearer <POST /auth/token for one>"}',
    defaultQuery: '{ products(first: 5) { nodes { id name priceCents stock } } }'}));
</script></body></html>
"""


class ShopGraphQL(GraphQL[ShopContext, None]):
    """strawberry's ASGI app with the shop's context and codes on every error."""

    def __init__(self, shop: Shop, starter: CheckoutStarter | None,
                 limits: QueryLimits | None = None) -> None:
        # No GET queries: GET is for caches and browsers; GraphiQL lives at /graphiql.
        # Each subscription looks at the database 4 times a second: at most 10 per socket.
        super().__init__(build_schema(limits), graphql_ide=None, allow_queries_via_get=False,
                         max_subscriptions_per_connection=MAX_SUBSCRIPTIONS)
        self.shop, self.starter = shop, starter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            response = await self.run(Request(scope, receive))
        except HTTPException as exc:  # not GraphQL at all (not JSON, no query…): say so natively
            response = Response(msgspec.json.encode({"data": None, "errors": [
                {"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]}),
                exc.status_code, media_type="application/json")
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError as exc:  # garbage bytes too, not only bad JSON
            raise json.JSONDecodeError(str(exc), "", 0) from None

    def encode_json(self, data: object) -> str:
        # str, not bytes: the WebSocket transports send what this returns, and a GraphQL
        # client expects text frames.
        return msgspec.json.encode(data).decode()

    async def get_context(self, request: Request | WebSocket, response: Any) -> ShopContext:
        return ShopContext(self.shop, request.scope.get(SCOPE_KEY), self.starter)

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        data: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            data["errors"] = [formatted(e) for e in result.errors]
        if result.extensions:
            data["extensions"] = result.extensions
        return data


def graphql_routes(shop: Shop, starter: CheckoutStarter | None = None,
                   limits: QueryLimits | None = None) -> list[BaseRoute]:
    """The routes to add to the shop's app."""
    app = ShopGraphQL(shop, starter, limits)
    sdl = app.schema.as_str() + "\n"

    async def graphiql(request: Request) -> Response:
        return HTMLResponse(GRAPHIQL)

    async def schema_sdl(request: Request) -> Response:
        return PlainTextResponse(sdl, media_type="application/graphql")

    return [Route("/graphql", app, methods=["POST"]),
            WebSocketRoute("/graphql", app),
            Route("/graphql/schema.graphql", schema_sdl, methods=["GET"]),
            Route("/graphiql", graphiql, methods=["GET"]),
            Mount("/graphiql/static", StaticFiles(directory=STATIC), name="graphiql")]


def sdl() -> str:
    """The schema in SDL, as ``GET /graphql/schema.graphql`` serves it."""
    return build_schema().as_str() + "\n"


def refusal(outcome: Outcome, headers: Mapping[str, str]) -> Rendered:
    """A refusal before GraphQL ran (no identity, body too large…) as a GraphQL response."""
    body = msgspec.json.encode({"data": None, "errors": [
        {"message": outcome.message, "extensions": extensions(outcome)}]})
    wanted = headers.get("accept", "")
    kind = GRAPHQL_RESPONSE if GRAPHQL_RESPONSE in wanted else "application/json"
    return Rendered(body, kind)
