"""``POST /orders/{id}/checkout``: run the order's saga, orchestrated or choreographed
(``BAZAAR_CHECKOUT``), through the starter the composition root passes in."""

from __future__ import annotations

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.params import path_id
from bazaar.api.principal import user_id
from bazaar.api.responses import json
from bazaar.api.routes import READ, WRITE, Operation
from bazaar.shop.services import Shop
from bazaar.shop.services.checkout import CheckoutStarter, checkout_state, start_checkout


class CheckoutAccepted(msgspec.Struct):
    order_id: int
    mode: str
    saga_id: str


class CheckoutStateOut(msgspec.Struct):
    order_id: int
    status: str
    reason: str | None


class CheckoutRoutes:
    def __init__(self, shop: Shop, starter: CheckoutStarter) -> None:
        self.shop = shop
        self.starter = starter

    async def checkout(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        started = await run_in_threadpool(start_checkout, self.shop, self.starter, uid,
                                          path_id(request, "order_id"))
        return json(CheckoutAccepted(started.order_id, started.mode, started.saga_id), 202)

    async def state(self, request: Request) -> Response:
        uid = user_id(request, READ)
        found = await run_in_threadpool(checkout_state, self.shop, uid,
                                        path_id(request, "order_id"))
        return json(CheckoutStateOut(found.order_id, found.status, found.reason))

    def operations(self) -> list[Operation]:
        return [Operation("POST", "/orders/{order_id:int}/checkout", self.checkout,
                          "Check out a placed order: reserve → charge → ship → notify, as a "
                          "saga (orchestrated or choreographed per BAZAAR_CHECKOUT). From "
                          "the 202 on the checkout owns the order: cancelling it is 409 "
                          "(reason: checking_out); a failed checkout cancels it and returns "
                          "its stock", response=CheckoutAccepted, status=202, scope=WRITE,
                          errors=(404, 409, 503)),
                Operation("GET", "/orders/{order_id:int}/checkout", self.state,
                          "The order's checkout: not_started (with the reason if a start "
                          "failed), pending, completed, or failed and why",
                          response=CheckoutStateOut, errors=(404,))]
