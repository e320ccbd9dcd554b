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
from bazaar.shop.services.checkout import (
    CheckoutStarter,
    CheckoutStatus,
    checkout_state,
    start_checkout,
)


class CheckoutAccepted(msgspec.Struct):
    order_id: int
    mode: str
    saga_id: str


class CheckoutStateOut(msgspec.Struct):
    order_id: int
    status: str
    reason: str | None


class CheckoutRoutes:
    def __init__(self, shop: Shop, starter: CheckoutStarter,
                 tracker: CheckoutStatus | None = None) -> None:
        self.shop = shop
        self.starter = starter
        self.tracker = tracker

    async def checkout(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        started = await run_in_threadpool(start_checkout, self.shop, self.starter, uid,
                                          path_id(request, "order_id"))
        return json(CheckoutAccepted(started.order_id, started.mode, started.saga_id), 202)

    async def state(self, request: Request) -> Response:
        uid = user_id(request, READ)
        assert self.tracker is not None
        found = await run_in_threadpool(checkout_state, self.shop, self.tracker, uid,
                                        path_id(request, "order_id"))
        return json(CheckoutStateOut(found.order_id, found.status, found.reason))

    def operations(self) -> list[Operation]:
        ops = [Operation("POST", "/orders/{order_id:int}/checkout", self.checkout,
                         "Check out a placed order: reserve → charge → ship → notify, as a "
                         "saga (orchestrated or choreographed per BAZAAR_CHECKOUT)",
                         response=CheckoutAccepted, status=202, scope=WRITE,
                         errors=(404, 409, 503))]
        if self.tracker is not None:
            ops.append(Operation("GET", "/orders/{order_id:int}/checkout", self.state,
                                 "The order's checkout: pending, completed, or failed and why",
                                 response=CheckoutStateOut, errors=(404,)))
        return ops
