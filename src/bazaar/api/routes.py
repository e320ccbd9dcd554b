"""The endpoints, and the one table that both routes them and documents them (OpenAPI)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api import schemas as s
from bazaar.api.conventions import conditional, next_link
from bazaar.api.params import Param, path_id, query
from bazaar.api.principal import principal, user_id, viewer
from bazaar.api.responses import body, json
from bazaar.shop.domain import ADMIN_SCOPE, LineRequest
from bazaar.shop.services import (
    OrderView,
    ProductFilter,
    ProductView,
    ReservationView,
    RoomAvailability,
    RoomView,
    Shop,
    UserView,
    bookings,
    catalog,
    orders,
    users,
)

READ, WRITE = "shop:read", "shop:write"
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """A route plus what OpenAPI says about it. ``scope`` None means no identity needed;
    ``endpoint`` None means another component serves it (documented, not routed here)."""

    method: str
    path: str
    endpoint: Endpoint | None
    summary: str
    body: type[Any] | None = None
    response: Any = None
    status: int = 200
    params: tuple[Param, ...] = ()
    scope: str | None = READ
    errors: tuple[int, ...] = ()
    #: The msgspec type of the query string (its fields are the documented parameters).
    query: type[Any] | None = None
    #: Media types the body may come in.
    media: tuple[str, ...] = ("application/json",)
    #: Default: the endpoint's name.
    operation_id: str | None = None
    #: Answers carry an ETag; If-None-Match gets 304 (and Link: rel=next for pages).
    conditional: bool = False
    paged: bool = False

    @property
    def id(self) -> str:
        return self.operation_id or (self.endpoint.__name__ if self.endpoint else self.path)


IDEMPOTENCY_KEY = Param("Idempotency-Key", {"type": "string", "maxLength": 255},
                        "Send the same key when retrying: the order is placed at most once "
                        "and the retry gets the first answer (header Idempotent-Replayed).",
                        where="header")


def _given(value: T | msgspec.UnsetType) -> T | None:
    return None if value is msgspec.UNSET else value  # type: ignore[return-value]


class ShopRoutes:
    """Thin handlers: parse, call one use case (in a worker thread), encode."""

    def __init__(self, shop: Shop) -> None:
        self.shop = shop

    # --- users --------------------------------------------------------------------------
    async def register(self, request: Request) -> Response:
        data = await body(request, s.RegisterIn)
        user = await run_in_threadpool(users.register, self.shop, data.username,
                                       data.display_name, data.password)
        return json(user, 201, {"Location": "/users/me"})

    async def me(self, request: Request) -> Response:
        uid = user_id(request)
        return json(await run_in_threadpool(users.profile, self.shop, uid))

    # --- products -----------------------------------------------------------------------
    async def list_products(self, request: Request) -> Response:
        principal(request, READ)
        q = query(request, s.ProductQuery)
        flt = ProductFilter(q=q.q or None, min_price_cents=_given(q.min_price_cents),
                            max_price_cents=_given(q.max_price_cents), in_stock=_given(q.in_stock))
        page = await run_in_threadpool(catalog.list_products, self.shop, flt, q.after, q.limit)
        return conditional(request, json(s.ProductPage(list(page.items), page.next_after),
                                         headers=next_link(request, page.next_after)))

    async def get_product(self, request: Request) -> Response:
        # The hot path: no thread hop when the reader answers from a cache.
        who = principal(request, READ)
        found = await self.shop.catalog_reader.product(path_id(request, "product_id"))
        self.shop.views.viewed(found.id, viewer(who))  # buffered: no I/O here
        return conditional(request, json(found))

    async def create_product(self, request: Request) -> Response:
        principal(request, ADMIN_SCOPE)
        data = await body(request, s.ProductIn)
        view = await run_in_threadpool(catalog.create_product, self.shop, data.sku, data.name,
                                       data.price_cents, data.stock)
        return json(view, 201, {"Location": f"/products/{view.id}"})

    async def restock(self, request: Request) -> Response:
        principal(request, ADMIN_SCOPE)
        data = await body(request, s.RestockIn)
        return json(await run_in_threadpool(catalog.restock, self.shop,
                                            path_id(request, "product_id"), data.quantity))

    # --- rooms --------------------------------------------------------------------------
    async def search_rooms(self, request: Request) -> Response:
        principal(request, READ)
        stay = query(request, s.StayQuery)
        found = await run_in_threadpool(catalog.search_rooms, self.shop, stay.check_in,
                                        stay.check_out, stay.rooms)
        return json(found)

    async def get_room(self, request: Request) -> Response:
        principal(request, READ)
        return json(await self.shop.catalog_reader.room(path_id(request, "room_id")))

    async def create_room(self, request: Request) -> Response:
        principal(request, ADMIN_SCOPE)
        data = await body(request, s.RoomIn)
        view = await run_in_threadpool(catalog.create_room, self.shop, data.code, data.name,
                                       data.price_cents, data.count)
        return json(view, 201, {"Location": f"/rooms/{view.id}"})

    async def reserve(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        data = await body(request, s.ReservationIn)
        view = await run_in_threadpool(bookings.reserve_room, self.shop, uid, data.room_id,
                                       data.check_in, data.check_out, data.rooms)
        return json(view, 201, {"Location": f"/reservations/{view.id}"})

    async def get_reservation(self, request: Request) -> Response:
        uid = user_id(request, READ)
        return json(await run_in_threadpool(bookings.get_reservation, self.shop, uid,
                                            path_id(request, "reservation_id")))

    async def cancel_reservation(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        return json(await run_in_threadpool(bookings.cancel_reservation, self.shop, uid,
                                            path_id(request, "reservation_id")))

    # --- orders -------------------------------------------------------------------------
    async def place_order(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        data = await body(request, s.OrderIn)
        key = request.headers.get("idempotency-key")
        lines = [LineRequest(ln.product_id, ln.quantity) for ln in data.lines]
        placed = await run_in_threadpool(orders.place_order, self.shop, uid, lines, key)
        headers = {"Location": f"/orders/{placed.order.id}"}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        return json(placed.order, 201, headers)

    async def list_orders(self, request: Request) -> Response:
        uid = user_id(request, READ)
        q = query(request, s.PageQuery)
        page = await run_in_threadpool(orders.list_orders, self.shop, uid, q.after, q.limit)
        return json(s.OrderPage(list(page.items), page.next_after),
                    headers=next_link(request, page.next_after))

    async def get_order(self, request: Request) -> Response:
        uid = user_id(request, READ)
        return json(await run_in_threadpool(orders.get_order, self.shop, uid,
                                            path_id(request, "order_id")))

    async def cancel_order(self, request: Request) -> Response:
        uid = user_id(request, WRITE)
        return json(await run_in_threadpool(orders.cancel_order, self.shop, uid,
                                            path_id(request, "order_id")))

    def operations(self) -> list[Operation]:
        o = Operation
        return [
            # The hot read path first: Starlette tries routes in order.
            o("GET", "/products/{product_id:int}", self.get_product, "Read a product",
              response=ProductView, errors=(404,), conditional=True),
            o("POST", "/users", self.register, "Register a user", s.RegisterIn, UserView, 201,
              scope=None, errors=(409, 422)),
            o("GET", "/users/me", self.me, "The caller's profile", response=UserView),
            o("GET", "/products", self.list_products, "List products (filters, pages)",
              response=s.ProductPage, query=s.ProductQuery, errors=(422,), conditional=True,
              paged=True),
            o("POST", "/products", self.create_product, "Create a product (admin)",
              s.ProductIn, ProductView, 201, scope=ADMIN_SCOPE, errors=(409, 422)),
            o("POST", "/products/{product_id:int}/restock", self.restock,
              "Add stock (admin)", s.RestockIn, ProductView, scope=ADMIN_SCOPE,
              errors=(404, 409, 422)),
            o("GET", "/rooms", self.search_rooms, "Room types free for a stay",
              response=list[RoomAvailability], query=s.StayQuery, errors=(422,)),
            o("POST", "/rooms", self.create_room, "Create a room type (admin)", s.RoomIn,
              RoomView, 201, scope=ADMIN_SCOPE, errors=(409, 422)),
            o("GET", "/rooms/{room_id:int}", self.get_room, "Read a room type",
              response=RoomView, errors=(404,)),
            o("POST", "/reservations", self.reserve, "Reserve rooms for a stay",
              s.ReservationIn, ReservationView, 201, scope=WRITE, errors=(404, 409, 422)),
            o("GET", "/reservations/{reservation_id:int}", self.get_reservation,
              "Read one of your reservations", response=ReservationView, errors=(404,)),
            o("POST", "/reservations/{reservation_id:int}/cancel", self.cancel_reservation,
              "Cancel a reservation (frees its nights)", response=ReservationView,
              scope=WRITE, errors=(404, 409)),
            o("POST", "/orders", self.place_order, "Place an order (all lines or none)",
              s.OrderIn, OrderView, 201, (IDEMPOTENCY_KEY,), WRITE, (404, 409, 422)),
            o("GET", "/orders", self.list_orders, "Your orders", response=s.OrderPage,
              query=s.PageQuery, errors=(422,), paged=True),
            o("GET", "/orders/{order_id:int}", self.get_order, "Read one of your orders",
              response=OrderView, errors=(404,)),
            o("POST", "/orders/{order_id:int}/cancel", self.cancel_order,
              "Cancel an order (returns its stock)", response=OrderView, scope=WRITE,
              errors=(404, 409)),
        ]
