"""Request and response bodies, and query strings, as msgspec types: they validate input,
encode output and generate the OpenAPI schemas — the documented bounds are the enforced
bounds. The numbers come from the domain's constants. Responses reuse the services' frozen
views directly."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from bazaar.shop.domain.orders import MAX_LINES
from bazaar.shop.domain.products import MAX_PRICE_CENTS, MAX_QUANTITY, MAX_STOCK, SKU_PATTERN
from bazaar.shop.domain.rooms import (
    CODE_PATTERN,
    MAX_ROOM_COUNT,
    MAX_ROOM_PRICE_CENTS,
    MAX_ROOMS_PER_BOOKING,
    MAX_STAY_NIGHTS,
)
from bazaar.shop.domain.users import MAX_PASSWORD, MIN_PASSWORD, USERNAME_PATTERN
from bazaar.shop.services import OrderView, ProductView
from bazaar.shop.services.catalog import MAX_PAGE

#: Ids and cursors are 64-bit signed integers in every database we run on.
MAX_ID = 2**63 - 1

Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID, description="A positive id.")]
Cursor = Annotated[int, msgspec.Meta(ge=0, le=MAX_ID, description=(
    "Return items after this id (0, or a previous page's next_after)."))]
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description="Items per page.")]
Price = Annotated[int, msgspec.Meta(ge=0, le=MAX_PRICE_CENTS, description="An amount in cents.")]
Stock = Annotated[int, msgspec.Meta(ge=0, le=MAX_STOCK)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
#: Text that is not only blanks (names are stored stripped).
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(pattern=USERNAME_PATTERN.pattern, examples=["alice"])]
    password: Annotated[str, msgspec.Meta(
        min_length=MIN_PASSWORD, max_length=MAX_PASSWORD,
        description=f"{MIN_PASSWORD}-{MAX_PASSWORD} characters; stored as argon2id.")]
    display_name: Annotated[str, msgspec.Meta(max_length=100)] = ""


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Annotated[str, msgspec.Meta(pattern=SKU_PATTERN.pattern, examples=["MUG-002"])]
    name: Name
    price_cents: Price
    stock: Stock = 0


class RestockIn(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(
        ge=1, le=MAX_STOCK, description=f"Units to add; the stock stays at most {MAX_STOCK}.")]


class RoomIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=CODE_PATTERN.pattern, examples=["FAM"])]
    name: Name
    price_cents: Annotated[int, msgspec.Meta(ge=0, le=MAX_ROOM_PRICE_CENTS)]
    count: Annotated[int, msgspec.Meta(ge=1, le=MAX_ROOM_COUNT)]


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: Id
    quantity: Annotated[int, msgspec.Meta(
        ge=1, le=MAX_QUANTITY,
        description=f"Lines of the same product add up; at most {MAX_QUANTITY} in all.")]


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[LineIn], msgspec.Meta(
        min_length=1, max_length=MAX_LINES,
        description=f"1-{MAX_LINES} lines; all are placed or none.")]


Rooms = Annotated[int, msgspec.Meta(ge=1, le=MAX_ROOMS_PER_BOOKING)]
StayDate = Annotated[date, msgspec.Meta(description=(
    f"check_out is after check_in, at most {MAX_STAY_NIGHTS} nights later; both within the "
    "booking horizon."))]


class ReservationIn(msgspec.Struct, forbid_unknown_fields=True):
    room_id: Id
    check_in: StayDate
    check_out: StayDate
    rooms: Rooms = 1


# --- query strings -------------------------------------------------------------------------
# Absent parameters are UNSET (they have no value, not a null one).

class PageQuery(msgspec.Struct):
    after: Cursor = 0
    limit: Limit = 20


class ProductQuery(msgspec.Struct):
    q: Annotated[str, msgspec.Meta(max_length=100, description="Name contains.")] = ""
    min_price_cents: Price | msgspec.UnsetType = msgspec.UNSET
    max_price_cents: Price | msgspec.UnsetType = msgspec.UNSET
    in_stock: bool | msgspec.UnsetType = msgspec.UNSET
    after: Cursor = 0
    limit: Limit = 20


class StayQuery(msgspec.Struct):
    check_in: StayDate
    check_out: StayDate
    rooms: Rooms = 1


# --- responses -----------------------------------------------------------------------------

class ProductPage(msgspec.Struct):
    items: list[ProductView]
    next_after: int | None = msgspec.field(default=None)


class OrderPage(msgspec.Struct):
    items: list[OrderView]
    next_after: int | None = None


class Health(msgspec.Struct):
    status: str
    database: str
    #: Each supervised service's state (``up``, ``starting``, ``restarting``, ``failed``).
    services: dict[str, str] = msgspec.field(default_factory=dict)
    #: The services that are not ``up`` (present only when the answer is 503).
    down: list[str] | None = None


class ServiceLink(msgspec.Struct):
    url: str | None
    state: str
    metrics: str | None = None


class Index(msgspec.Struct):
    name: str
    version: str
    links: dict[str, str]
    services: dict[str, ServiceLink]
