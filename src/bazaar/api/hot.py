"""The hot read path, ``GET /products/{id}``, answered before Starlette's routing.

The read cache keeps a product as its JSON (see ``GuardedCatalog.cached_product_json``), so a
cached product is a response body already: this ASGI layer, placed just inside the identity
middleware, checks the caller's scope, takes those bytes from the cache in one call, and sends
them — no router, no Request object, no exception-handler wrapping, no re-encoding. A product
the cache does not hold (or no cache at all: ``DirectReader``) is awaited from the reader (a
point read on the event loop, see ``SqlCatalogQueries.product_async``) and encoded as the
route would. Anything else (another route, an unknown id, a reader's refusal such as an
unreachable database, a caller without ``shop:read``) goes on to the full app, which answers
exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.api.conventions import etag_of, none_match
from bazaar.api.principal import SCOPE_KEY, viewer
from bazaar.api.responses import encode
from bazaar.api.routes import READ
from bazaar.shop.domain import ShopError
from bazaar.shop.services import Shop

_PREFIX = "/products/"
_HEADERS_TAIL = (b"content-type", b"application/json")


def _peek(shop: Shop) -> Callable[[int], bytes | None] | None:
    reader: Any = shop.catalog_reader
    found: Callable[[int], bytes | None] | None = getattr(reader, "cached_product_json", None)
    return found


async def _send_product(scope: Scope, send: Send, body: bytes) -> None:
    """200 with the cached bytes and their ETag, or 304 if the client has them."""
    tag = etag_of(body)
    wanted = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
    if none_match(wanted, tag):
        await send({"type": "http.response.start", "status": 304,
                    "headers": [(b"etag", tag)]})
        await send({"type": "http.response.body", "body": b""})
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"%d" % len(body)), (b"etag", tag),
                            _HEADERS_TAIL]})
    await send({"type": "http.response.body", "body": body})


class HotReads:
    """ASGI middleware: cached ``GET /products/{id}`` straight from the cache's bytes."""

    def __init__(self, app: ASGIApp, shop: Shop) -> None:
        self.app = app
        self.shop = shop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path: str = scope["path"]
            if path.startswith(_PREFIX):
                digits = path[10:]
                # The route's {product_id:int} is [0-9]+; longer ids go the long way.
                if 0 < len(digits) <= 18 and digits.isascii() and digits.isdigit():
                    who = scope.get(SCOPE_KEY)
                    if who is not None and READ in who.scopes:
                        body = await self._product_json(int(digits))
                        if body is not None:
                            self.shop.views.viewed(int(digits), viewer(who))
                            scope["bazaar.route"] = "/products/{product_id:int}"  # metrics
                            await _send_product(scope, send, body)
                            return
        await self.app(scope, receive, send)

    async def _product_json(self, product_id: int) -> bytes | None:
        """The product's body from the cache's bytes or the reader; None: the long way."""
        peek = _peek(self.shop)  # looked up each time: the reader can be swapped
        if peek is not None:
            body = peek(product_id)
            if body is not None:
                return body
        try:
            view = await self.shop.catalog_reader.product(product_id)
        except ShopError:  # not found, unavailable: the route answers (and renders) it
            return None
        return encode(view)
