"""Request and response bodies as msgspec types: they validate input, encode output and
generate the OpenAPI schemas. Responses reuse the services' frozen views directly."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import msgspec

from bazaar.shop.services import OrderView, ProductView

Id = Annotated[int, msgspec.Meta(ge=1, description="A positive id.")]
Cents = Annotated[int, msgspec.Meta(ge=0, description="An amount in cents.")]


class RegisterIn(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(examples=["alice"])]
    password: Annotated[str, msgspec.Meta(description="8-1024 characters; stored as argon2id.")]
    display_name: str = ""


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Annotated[str, msgspec.Meta(examples=["MUG-002"])]
    name: str
    price_cents: int
    stock: int = 0


class RestockIn(msgspec.Struct, forbid_unknown_fields=True):
    quantity: int


class RoomIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(examples=["FAM"])]
    name: str
    price_cents: int
    count: int


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: int
    quantity: int


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    lines: list[LineIn]


class ReservationIn(msgspec.Struct, forbid_unknown_fields=True):
    room_id: int
    check_in: date
    check_out: date
    rooms: int = 1


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


class Index(msgspec.Struct):
    name: str
    version: str
    links: dict[str, str]
    services: dict[str, ServiceLink]
