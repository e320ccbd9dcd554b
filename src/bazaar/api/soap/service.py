"""The SOAP operations: each reads its request element, calls one ``shop/services`` use case
and returns what the response element holds (views, written by :func:`envelope.write`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from bazaar.api.params import check_id
from bazaar.api.principal import Principal, require, require_user
from bazaar.api.routes import READ, WRITE
from bazaar.shop.domain import LineRequest, Unavailable
from bazaar.shop.services import OrderView, ProductFilter, Shop, bookings, catalog, orders
from bazaar.shop.services.checkout import CheckoutStarter, checkout_state, start_checkout

T = TypeVar("T")
Args = dict[str, Any]
Handler = Callable[[Principal | None, Args], Awaitable[Any]]


async def call(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(partial(fn, *args))


class ShopSoap:
    def __init__(self, shop: Shop, starter: CheckoutStarter | None) -> None:
        self.shop = shop
        self.starter = starter

    def table(self) -> dict[str, Handler]:
        return {"GetProduct": self.get_product, "ListProducts": self.list_products,
                "GetRoom": self.get_room, "SearchRooms": self.search_rooms,
                "ReserveRoom": self.reserve_room, "CancelReservation": self.cancel_reservation,
                "PlaceOrder": self.place_order, "GetOrder": self.get_order,
                "ListOrders": self.list_orders, "CancelOrder": self.cancel_order,
                "StartCheckout": self.start_checkout, "GetCheckout": self.get_checkout}

    async def get_product(self, who: Principal | None, a: Args) -> Args:
        require(who, READ)
        return {"product": await self.shop.catalog_reader.product(check_id("id", a["id"]))}

    async def list_products(self, who: Principal | None, a: Args) -> Args:
        require(who, READ)
        flt = ProductFilter(q=a.get("q") or None, min_price_cents=a.get("min_price_cents"),
                            max_price_cents=a.get("max_price_cents"),
                            in_stock=a.get("in_stock"))
        page = await call(catalog.list_products, self.shop, flt, a.get("after", 0),
                          a.get("limit", 20))
        return {"items": page.items, "next_after": page.next_after}

    async def get_room(self, who: Principal | None, a: Args) -> Args:
        require(who, READ)
        return {"room": await self.shop.catalog_reader.room(check_id("id", a["id"]))}

    async def search_rooms(self, who: Principal | None, a: Args) -> Args:
        require(who, READ)
        return {"items": await call(catalog.search_rooms, self.shop, a["check_in"],
                                    a["check_out"], a.get("rooms", 1))}

    async def reserve_room(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, WRITE)
        return {"reservation": await call(
            bookings.reserve_room, self.shop, uid, check_id("roomId", a["room_id"]),
            a["check_in"], a["check_out"], a.get("rooms", 1))}

    async def cancel_reservation(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, WRITE)
        return {"reservation": await call(bookings.cancel_reservation, self.shop, uid,
                                          check_id("id", a["id"]))}

    async def place_order(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, WRITE)
        lines = [LineRequest(ln["product_id"], ln["quantity"]) for ln in a["line"]]
        placed = await call(orders.place_order, self.shop, uid, lines,
                            a.get("idempotency_key"))
        return {"order": placed.order, "replayed": placed.replayed}

    async def get_order(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, READ)
        return {"order": await call(orders.get_order, self.shop, uid, check_id("id", a["id"]))}

    async def list_orders(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, READ)
        page = await call(orders.list_orders, self.shop, uid, a.get("after", 0),
                          a.get("limit", 20))
        items: list[Any] = list(page.items)
        if a.get("with_product_names"):
            ids = sorted({ln.product_id for o in page.items for ln in o.lines})
            names = await call(catalog.products_by_id, self.shop, ids) if ids else {}
            items = [_named(o, names) for o in page.items]
        return {"items": items, "next_after": page.next_after}

    async def cancel_order(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, WRITE)
        return {"order": await call(orders.cancel_order, self.shop, uid,
                                    check_id("id", a["id"]))}

    async def start_checkout(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, WRITE)
        if self.starter is None:
            raise Unavailable("checkout is not served here")
        return {"checkout": await call(start_checkout, self.shop, self.starter, uid,
                                       check_id("orderId", a["order_id"]))}

    async def get_checkout(self, who: Principal | None, a: Args) -> Args:
        uid = require_user(who, READ)
        return {"checkout": await call(checkout_state, self.shop, uid,
                                       check_id("orderId", a["order_id"]))}


def _named(o: OrderView, names: dict[int, Any]) -> dict[str, Any]:
    """An order whose lines carry their product's name (the element ``productName``)."""
    return {"id": o.id, "status": o.status, "total_cents": o.total_cents,
            "lines": [{"product_id": ln.product_id, "quantity": ln.quantity,
                       "unit_price_cents": ln.unit_price_cents,
                       "product_name": names[ln.product_id].name
                       if ln.product_id in names else None} for ln in o.lines]}
