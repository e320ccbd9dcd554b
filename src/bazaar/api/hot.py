"""The hot read path, ``GET /products/{id}``, answered before Starlette's routing when it can be.

The read cache keeps a product as its JSON (see ``GuardedCatalog.cached_product_json``), so a
cached product is a response body already: this ASGI layer, placed just inside the identity
middleware, checks the caller's scope, takes those bytes from the cache in one call, and sends
them — no router, no Request object, no exception-handler wrapping, no re-encoding. Anything
else (another route, a miss, an unknown id, a caller without ``shop:read``) goes on to the full
app, which answers exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from bazaar.api.principal import SCOPE_KEY
from bazaar.api.routes import READ
from bazaar.shop.services import Shop

_PREFIX = "/products/"
_HEADERS_TAIL = (b"content-type", b"application/json")


def _peek(shop: Shop) -> Callable[[int], bytes | None] | None:
    reader: Any = shop.reader
    found: Callable[[int], bytes | None] | None = getattr(reader, "cached_product_json", None)
    return found


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
                    peek = _peek(self.shop)  # looked up each time: the reader can be swapped
                    if who is not None and peek is not None and READ in who.scopes:
                        body = peek(int(digits))
                        if body is not None:
                            await send({"type": "http.response.start", "status": 200,
                                        "headers": [(b"content-length", b"%d" % len(body)),
                                                    _HEADERS_TAIL]})
                            await send({"type": "http.response.body", "body": body})
                            return
        await self.app(scope, receive, send)
