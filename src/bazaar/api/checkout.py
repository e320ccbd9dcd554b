"""``POST /orders/{id}/checkout``: run the order's saga, orchestrated or choreographed
(``BAZAAR_CHECKOUT``), through the starter the composition root passes in."""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.principal import user_id
from bazaar.api.responses import json
from bazaar.api.routes import WRITE, Operation
from bazaar.shop.services import Shop
from bazaar.shop.services.checkout import CheckoutStarter, start_checkout


class CheckoutAccepted(msgspec.Struct):
    order_id: int
    mode: str
    saga_id: str


class CheckoutRoutes:
    def __init__(self, shop: Shop, starter: CheckoutStarter) -> None:
        self.shop = shop
        self.starter = starter

    async def checkout(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        started = await run_in_threadpool(start_checkout, self.shop, self.starter, uid,
                                          request.path_params["order_id"])
        return json(CheckoutAccepted(started.order_id, started.mode, started.saga_id), 202)

    def operations(self) -> list[Operation]:
        return [Operation("POST", "/orders/{order_id:int}/checkout", self.checkout,
                          "Check out a placed order: reserve → charge → ship → notify, as a "
                          "saga (orchestrated or choreographed per BAZAAR_CHECKOUT)",
                          response=CheckoutAccepted, status=202, scope=WRITE,
                          errors=(404, 409, 503))]
