"""The schema: queries, mutations and the checkout subscription, each resolver one call of a
``shop/services`` use case (parse, call, return the view)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date
from functools import partial
from typing import Any, TypeVar, cast

import anyio.to_thread
import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from bazaar.api.graph import pages
from bazaar.api.graph import types as t
from bazaar.api.graph.context import ShopContext
from bazaar.api.graph.errors import native
from bazaar.api.graph.fastlists import FastListExecution
from bazaar.api.graph.limits import QueryLimits, rule
from bazaar.api.params import check_id
from bazaar.api.routes import READ, WRITE
from bazaar.shop.domain import InvalidInput, LineRequest, Unavailable
from bazaar.shop.services import ProductFilter, bookings, catalog, orders, users
from bazaar.shop.services.checkout import checkout_state, start_checkout

T = TypeVar("T")
Info = strawberry.Info[ShopContext, None]

#: How often the checkout subscription looks at the order, and for how long at most.
POLL_S = 0.25
#: Distinct documents whose parse and validation are kept.
DOCUMENT_CACHE = 1024
SUBSCRIPTION_TIMEOUT_S = 600.0


async def call(fn: Callable[..., T], *args: Any) -> T:
    """A (blocking) use case in a worker thread."""
    return await anyio.to_thread.run_sync(partial(fn, *args))


def _first(first: int) -> int:
    if not 1 <= first <= pages.MAX_FIRST:
        raise InvalidInput("first", f"must be between 1 and {pages.MAX_FIRST}")
    return first


@strawberry.type
class Query:
    @strawberry.field(description="Products by id, filtered, a page at a time.")
    @native
    async def products(self, info: Info, first: int = 20, after: str | None = None,
                       filter: t.ProductFilterInput | None = None) -> t.ProductConnection:
        info.context.caller(READ)
        f = filter or t.ProductFilterInput()
        flt = ProductFilter(q=f.q or None, min_price_cents=f.min_price_cents,
                            max_price_cents=f.max_price_cents, in_stock=f.in_stock)
        page = await call(catalog.list_products, info.context.shop, flt,
                          t.after_id("product", after), _first(first))
        return pages.products(page)

    @strawberry.field(description="One product (NOT_FOUND if there is none).")
    @native
    async def product(self, info: Info, id: int) -> t.Product:
        info.context.caller(READ)
        return cast(t.Product, await info.context.shop.catalog_reader.product(
            check_id("id", id)))

    @strawberry.field(description="One room type.")
    @native
    async def room(self, info: Info, id: int) -> t.Room:
        info.context.caller(READ)
        return cast(t.Room, await info.context.shop.catalog_reader.room(
            check_id("id", id)))

    @strawberry.field(description="Room types with `rooms` rooms free every night of a stay.")
    @native
    async def rooms(self, info: Info, check_in: date, check_out: date,
                    rooms: int = 1) -> list[t.RoomAvailability]:
        info.context.caller(READ)
        found = await call(catalog.search_rooms, info.context.shop, check_in, check_out, rooms)
        return cast(list[t.RoomAvailability], found)

    @strawberry.field(description="The caller's profile.")
    @native
    async def me(self, info: Info) -> t.User:
        uid = info.context.user(None)
        return cast(t.User, await call(users.profile, info.context.shop, uid))

    @strawberry.field(description="The caller's orders, oldest first, with their lines.")
    @native
    async def my_orders(self, info: Info, first: int = 20,
                        after: str | None = None) -> t.OrderConnection:
        uid = info.context.user(READ)
        page = await call(orders.list_orders, info.context.shop, uid,
                          t.after_id("order", after), _first(first))
        return pages.orders(page)

    @strawberry.field(description="One of the caller's orders.")
    @native
    async def order(self, info: Info, id: int) -> t.Order:
        uid = info.context.user(READ)
        return cast(t.Order, await call(orders.get_order, info.context.shop, uid,
                                         check_id("id", id)))

    @strawberry.field(description="One of the caller's reservations.")
    @native
    async def reservation(self, info: Info, id: int) -> t.Reservation:
        uid = info.context.user(READ)
        return cast(t.Reservation, await call(bookings.get_reservation, info.context.shop,
                                              uid, check_id("id", id)))

    @strawberry.field(description="An order's checkout: not_started, pending, completed, "
                                  "failed.")
    @native
    async def checkout(self, info: Info, order_id: int) -> t.CheckoutState:
        uid = info.context.user(READ)
        return cast(t.CheckoutState, await call(checkout_state, info.context.shop, uid,
                                                check_id("orderId", order_id)))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Place an order: every line or none.")
    @native
    async def place_order(self, info: Info, input: t.PlaceOrderInput) -> t.PlacedOrder:
        uid = info.context.user(WRITE)
        lines = [LineRequest(ln.product_id, ln.quantity) for ln in input.lines]
        placed = await call(orders.place_order, info.context.shop, uid, lines,
                            input.idempotency_key)
        return t.PlacedOrder(order=cast(t.Order, placed.order), replayed=placed.replayed)

    @strawberry.mutation(description="Cancel one of the caller's orders (returns its stock).")
    @native
    async def cancel_order(self, info: Info, id: int) -> t.Order:
        uid = info.context.user(WRITE)
        return cast(t.Order, await call(orders.cancel_order, info.context.shop, uid,
                                         check_id("id", id)))

    @strawberry.mutation(description="Reserve rooms for every night of a stay, or none.")
    @native
    async def reserve_room(self, info: Info, input: t.ReserveRoomInput) -> t.Reservation:
        uid = info.context.user(WRITE)
        return cast(t.Reservation, await call(
            bookings.reserve_room, info.context.shop, uid, check_id("roomId", input.room_id),
            input.check_in,
            input.check_out, input.rooms))

    @strawberry.mutation(description="Cancel a reservation (frees its nights).")
    @native
    async def cancel_reservation(self, info: Info, id: int) -> t.Reservation:
        uid = info.context.user(WRITE)
        return cast(t.Reservation, await call(bookings.cancel_reservation,
                                              info.context.shop, uid, check_id("id", id)))

    @strawberry.mutation(description="Check out a placed order (the saga: reserve → charge → "
                                      "ship → notify). Follow it with `checkoutStatus`.")
    @native
    async def start_checkout(self, info: Info, order_id: int) -> t.CheckoutStarted:
        uid = info.context.user(WRITE)
        starter = info.context.starter
        if starter is None:
            raise Unavailable("checkout is not served here")
        started = await call(start_checkout, info.context.shop, starter, uid,
                             check_id("orderId", order_id))
        return t.CheckoutStarted(order_id=started.order_id, mode=started.mode,
                                 saga_id=started.saga_id)


@strawberry.type
class Subscription:
    @strawberry.subscription(description="An order's checkout state: the current one, then "
                                         "each change, until it is completed or failed.")
    @native
    async def checkout_status(self, info: Info,
                              order_id: int) -> AsyncIterator[t.CheckoutState]:
        uid = info.context.user(READ)
        check_id("orderId", order_id)
        shop, last = info.context.shop, None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SUBSCRIPTION_TIMEOUT_S
        while loop.time() < deadline:
            state = await call(checkout_state, shop, uid, order_id)
            if state != last:
                last = state
                yield cast(t.CheckoutState, state)
                if state.status in ("completed", "failed"):
                    return
            await asyncio.sleep(POLL_S)


class ShopSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Expected errors are answers, not log lines (unexpected ones were logged, with
        their traceback, where they were classified)."""


def build_schema(limits: QueryLimits | None = None) -> strawberry.Schema:
    chosen = limits or QueryLimits()
    limits_rule = rule(chosen)  # one class: the validation cache keys on the rules
    parsed, validated = ParserCache(maxsize=DOCUMENT_CACHE), ValidationCache(DOCUMENT_CACHE)
    return ShopSchema(
        query=Query, mutation=Mutation, subscription=Subscription,
        execution_context_class=FastListExecution,
        config=StrawberryConfig(auto_camel_case=True),
        # Parsing and validating is most of a small query's cost: documents a client sends
        # again (the usual case) are parsed and validated once (LRU-bounded).
        extensions=[lambda: MaxTokensLimiter(max_token_count=chosen.max_tokens),
                    lambda: AddValidationRules([limits_rule]),
                    lambda: parsed, lambda: validated])
