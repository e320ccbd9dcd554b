"""The RPCs: each parses its message, calls one ``shop/services`` use case (blocking ones in
a worker thread) and builds the reply. Views become messages here and nowhere else."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread

from bazaar.api.params import check_id
from bazaar.api.principal import Principal, require, require_user
from bazaar.api.routes import READ, WRITE
from bazaar.api.rpc.gen import shop_pb2 as pb
from bazaar.shop.domain import InvalidInput, LineRequest, Unavailable
from bazaar.shop.services import (
    OrderView,
    ProductFilter,
    ProductView,
    ReservationView,
    RoomView,
    Shop,
    bookings,
    catalog,
    orders,
)
from bazaar.shop.services.checkout import CheckoutStarter, checkout_state, start_checkout

T = TypeVar("T")
DEFAULT_LIMIT = 20


async def call(fn: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(partial(fn, *args))


def product(v: ProductView) -> pb.Product:
    return pb.Product(id=v.id, sku=v.sku, name=v.name, price_cents=v.price_cents, stock=v.stock)


def room(v: RoomView) -> pb.Room:
    return pb.Room(id=v.id, code=v.code, name=v.name, price_cents=v.price_cents, count=v.count)


def reservation(v: ReservationView) -> pb.Reservation:
    return pb.Reservation(id=v.id, room_id=v.room_id, check_in=v.check_in.isoformat(),
                          check_out=v.check_out.isoformat(), rooms=v.rooms,
                          price_cents=v.price_cents, status=v.status)


def order(v: OrderView, names: dict[int, ProductView] | None = None) -> pb.Order:
    lines = [pb.OrderLine(product_id=ln.product_id, quantity=ln.quantity,
                          unit_price_cents=ln.unit_price_cents,
                          product_name=names[ln.product_id].name
                          if names and ln.product_id in names else "")
             for ln in v.lines]
    return pb.Order(id=v.id, status=v.status, total_cents=v.total_cents, lines=lines)


def day(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(name, "must be a date, YYYY-MM-DD") from None


def limit(value: int) -> int:
    return value or DEFAULT_LIMIT


class ShopRpc:
    def __init__(self, shop: Shop, starter: CheckoutStarter | None) -> None:
        self.shop = shop
        self.starter = starter

    async def _names(self, found: Iterable[OrderView]) -> dict[int, ProductView]:
        ids = sorted({ln.product_id for o in found for ln in o.lines})
        return await call(catalog.products_by_id, self.shop, ids) if ids else {}

    async def get_product(self, who: Principal, req: pb.GetProductRequest) -> pb.Product:
        require(who, READ)
        return product(await self.shop.catalog_reader.product(check_id("id", req.id)))

    async def list_products(self, who: Principal,
                            req: pb.ListProductsRequest) -> pb.ListProductsResponse:
        require(who, READ)
        f = req.filter
        flt = ProductFilter(
            q=f.q or None,
            min_price_cents=f.min_price_cents if f.HasField("min_price_cents") else None,
            max_price_cents=f.max_price_cents if f.HasField("max_price_cents") else None,
            in_stock=f.in_stock if f.HasField("in_stock") else None)
        page = await call(catalog.list_products, self.shop, flt, req.after, limit(req.limit))
        return pb.ListProductsResponse(items=[product(p) for p in page.items],
                                       next_after=page.next_after or 0)

    async def get_room(self, who: Principal, req: pb.GetRoomRequest) -> pb.Room:
        require(who, READ)
        return room(await self.shop.catalog_reader.room(check_id("id", req.id)))

    async def search_rooms(self, who: Principal,
                           req: pb.SearchRoomsRequest) -> pb.SearchRoomsResponse:
        require(who, READ)
        found = await call(catalog.search_rooms, self.shop, day("check_in", req.check_in),
                           day("check_out", req.check_out), req.rooms or 1)
        return pb.SearchRoomsResponse(items=[
            pb.RoomAvailability(room=room(a.room), available=a.available, nights=a.nights,
                                total_price_cents=a.total_price_cents) for a in found])

    async def reserve_room(self, who: Principal, req: pb.ReserveRoomRequest) -> pb.Reservation:
        uid = require_user(who, WRITE)
        return reservation(await call(
            bookings.reserve_room, self.shop, uid, check_id("room_id", req.room_id),
            day("check_in", req.check_in), day("check_out", req.check_out), req.rooms or 1))

    async def cancel_reservation(self, who: Principal,
                                 req: pb.CancelReservationRequest) -> pb.Reservation:
        uid = require_user(who, WRITE)
        return reservation(await call(bookings.cancel_reservation, self.shop, uid,
                                      check_id("id", req.id)))

    async def place_order(self, who: Principal,
                          req: pb.PlaceOrderRequest) -> pb.PlaceOrderResponse:
        uid = require_user(who, WRITE)
        lines = [LineRequest(ln.product_id, ln.quantity) for ln in req.lines]
        placed = await call(orders.place_order, self.shop, uid, lines,
                            req.idempotency_key or None)
        return pb.PlaceOrderResponse(order=order(placed.order), replayed=placed.replayed)

    async def get_order(self, who: Principal, req: pb.GetOrderRequest) -> pb.Order:
        uid = require_user(who, READ)
        return order(await call(orders.get_order, self.shop, uid, check_id("id", req.id)))

    async def list_orders(self, who: Principal,
                          req: pb.ListOrdersRequest) -> pb.ListOrdersResponse:
        uid = require_user(who, READ)
        page = await call(orders.list_orders, self.shop, uid, req.after, limit(req.limit))
        names = await self._names(page.items) if req.with_product_names else None
        return pb.ListOrdersResponse(items=[order(o, names) for o in page.items],
                                     next_after=page.next_after or 0)

    async def stream_orders(self, who: Principal,
                            req: pb.StreamOrdersRequest) -> AsyncIterator[pb.Order]:
        uid = require_user(who, READ)
        after: int | None = 0
        while after is not None:
            page = await call(orders.list_orders, self.shop, uid, after, catalog.MAX_PAGE)
            names = await self._names(page.items) if req.with_product_names else None
            for o in page.items:
                yield order(o, names)
            after = page.next_after

    async def cancel_order(self, who: Principal, req: pb.CancelOrderRequest) -> pb.Order:
        uid = require_user(who, WRITE)
        return order(await call(orders.cancel_order, self.shop, uid, check_id("id", req.id)))

    async def start_checkout(self, who: Principal,
                             req: pb.StartCheckoutRequest) -> pb.CheckoutStarted:
        uid = require_user(who, WRITE)
        if self.starter is None:
            raise Unavailable("checkout is not served here")
        started = await call(start_checkout, self.shop, self.starter, uid,
                             check_id("order_id", req.order_id))
        return pb.CheckoutStarted(order_id=started.order_id, mode=started.mode,
                                  saga_id=started.saga_id)

    async def get_checkout(self, who: Principal,
                           req: pb.GetCheckoutRequest) -> pb.CheckoutState:
        uid = require_user(who, READ)
        state = await call(checkout_state, self.shop, uid, check_id("order_id", req.order_id))
        return pb.CheckoutState(order_id=state.order_id, status=state.status,
                                reason=state.reason or "")
