"""The GraphQL object types. Resolvers hand back the services' frozen views themselves
(``ProductView``, ``OrderView``…): the default resolver reads their attributes, so a list of
products is served without copying a single object."""

from __future__ import annotations

import base64
from datetime import date
from typing import TYPE_CHECKING, cast

import strawberry

from bazaar.api.graph.errors import native
from bazaar.shop.domain import InvalidInput
from bazaar.shop.services import LineView

if TYPE_CHECKING:
    from bazaar.api.graph.context import ShopContext


@strawberry.type(description="A product of the catalogue; prices in cents.")
class Product:
    id: int
    sku: str
    name: str
    price_cents: int
    stock: int


@strawberry.type(description="A room type; `count` rooms of it exist each night.")
class Room:
    id: int
    code: str
    name: str
    price_cents: int
    count: int


@strawberry.type(description="A room type with rooms free on every night of a stay.")
class RoomAvailability:
    room: Room
    available: int
    nights: int
    total_price_cents: int


@strawberry.type(description="One line of an order, at the price it was ordered at.")
class OrderLine:
    product_id: int
    quantity: int
    unit_price_cents: int

    @strawberry.field(description="The product (batched: one query for every line of a "
                                  "response, however many orders it has).")
    @native
    async def product(self, info: strawberry.Info[ShopContext, None]) -> Product:
        line: LineView = self  # type: ignore[assignment]  # the resolver's source is a view
        return cast(Product, await info.context.products.load(line.product_id))


@strawberry.type(description="An order: all its lines were reserved together.")
class Order:
    id: int
    status: str
    total_cents: int
    lines: list[OrderLine]


@strawberry.type
class Reservation:
    id: int
    room_id: int
    check_in: date
    check_out: date
    rooms: int
    price_cents: int
    status: str


@strawberry.type
class User:
    id: int
    username: str
    display_name: str
    scopes: list[str]


@strawberry.type(description="Relay's PageInfo: pass `endCursor` as `after` for the next page.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class ProductEdge:
    cursor: str
    node: Product


@strawberry.type(description="A page of products (Relay cursor connection).")
class ProductConnection:
    edges: list[ProductEdge]
    page_info: PageInfo

    @strawberry.field(description="The page's products, without the edges (fewer bytes).")
    def nodes(self) -> list[Product]:
        return [edge.node for edge in self.edges]


@strawberry.type
class OrderEdge:
    cursor: str
    node: Order


@strawberry.type(description="A page of the caller's orders (Relay cursor connection).")
class OrderConnection:
    edges: list[OrderEdge]
    page_info: PageInfo

    @strawberry.field(description="The page's orders, without the edges.")
    def nodes(self) -> list[Order]:
        return [edge.node for edge in self.edges]


@strawberry.type
class PlacedOrder:
    order: Order
    replayed: bool = strawberry.field(description="True when this is the stored answer to an "
                                                  "earlier request with the same key.")


@strawberry.type
class CheckoutStarted:
    order_id: int
    mode: str
    saga_id: str


@strawberry.type(description="not_started, pending, completed or failed (and why).")
class CheckoutState:
    order_id: int
    status: str
    reason: str | None


@strawberry.input(description="Products whose name contains `q`, priced within the bounds.")
class ProductFilterInput:
    q: str | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    in_stock: bool | None = None


@strawberry.input
class LineInput:
    product_id: int
    quantity: int


@strawberry.input(description="All lines are placed or none. Send the same `idempotencyKey` "
                              "when retrying: the order is placed at most once.")
class PlaceOrderInput:
    lines: list[LineInput]
    idempotency_key: str | None = None


@strawberry.input
class ReserveRoomInput:
    room_id: int
    check_in: date
    check_out: date
    rooms: int = 1


def cursor(kind: str, key: int) -> str:
    """An opaque cursor (Relay): base64 of ``kind:id``."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def after_id(kind: str, value: str | None) -> int:
    """The id a cursor stands for; a cursor of another list or garbage is bad input."""
    if value is None:
        return 0
    try:
        name, _, key = base64.urlsafe_b64decode(value.encode()).decode().partition(":")
        found = int(key)
    except (ValueError, UnicodeError):
        raise InvalidInput("after", "is not a cursor this API gave out") from None
    if name != kind or found < 0:
        raise InvalidInput("after", f"is not a cursor of this list ({kind})")
    return found
