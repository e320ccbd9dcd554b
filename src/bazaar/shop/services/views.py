"""What the use cases return: frozen, plain values that any edge can serialise."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class ProductView:
    id: int
    sku: str
    name: str
    price_cents: int
    stock: int


@dataclass(frozen=True)
class ProductFilter:
    """``q`` matches the name (case-insensitive substring); prices in cents, inclusive."""

    q: str | None = None
    min_price_cents: int | None = None
    max_price_cents: int | None = None
    in_stock: bool | None = None


@dataclass(frozen=True)
class RoomView:
    id: int
    code: str
    name: str
    price_cents: int
    count: int


@dataclass(frozen=True)
class RoomAvailability:
    room: RoomView
    available: int
    nights: int
    total_price_cents: int


@dataclass(frozen=True)
class LineView:
    product_id: int
    quantity: int
    unit_price_cents: int


@dataclass(frozen=True)
class OrderView:
    id: int
    user_id: int
    status: str
    total_cents: int
    lines: tuple[LineView, ...]


@dataclass(frozen=True)
class PlacedOrder:
    """An order, and whether it is the stored answer to an earlier request with this key."""

    order: OrderView
    replayed: bool


@dataclass(frozen=True)
class ReservationView:
    id: int
    user_id: int
    room_id: int
    check_in: date
    check_out: date
    rooms: int
    price_cents: int
    status: str


@dataclass(frozen=True)
class UserView:
    id: int
    username: str
    display_name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Credentials:
    """What a login needs: never leaves the server."""

    user_id: int
    password_hash: str
    scopes: tuple[str, ...]

    def __repr__(self) -> str:
        return f"Credentials(user_id={self.user_id}, password_hash='***', scopes={self.scopes})"


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list; pass ``next_after`` back as ``after`` for the next one."""

    items: tuple[T, ...]
    next_after: int | None
