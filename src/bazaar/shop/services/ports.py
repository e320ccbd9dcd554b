"""The ports the use cases need. ``bazaar.shop.adapters`` implements them on SQLAlchemy;
tests may implement them in memory. Nothing here knows about SQL or HTTP."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import Protocol, Self

from anyio import CapacityLimiter

from bazaar.shop.domain import Order, Product, Reservation, Room, RoomNight
from bazaar.shop.services.views import (
    Credentials,
    ProductFilter,
    ProductView,
    RoomAvailability,
    RoomView,
    UserView,
)


class KeyAlreadyClaimed(Exception):
    """Another (committed) transaction already holds this idempotency key."""


@dataclass(frozen=True)
class IdempotencyRecord:
    request_hash: str
    order_id: int | None


class ProductRepository(Protocol):
    def add(self, product: Product) -> None: ...
    def get(self, product_id: int) -> Product | None: ...
    def by_sku(self, sku: str) -> Product | None: ...


class RoomRepository(Protocol):
    def add(self, room: Room) -> None: ...
    def get(self, room_id: int) -> Room | None: ...
    def by_code(self, code: str) -> Room | None: ...
    def add_nights(self, nights: Sequence[RoomNight]) -> None: ...
    def bookable_span(self, room_id: int) -> tuple[date, date] | None:
        """The first and the last night the room type can be booked for (its horizon)."""


class OrderRepository(Protocol):
    def add(self, order: Order) -> None: ...
    def get(self, order_id: int) -> Order | None: ...
    def for_user(self, user_id: int, after: int, limit: int) -> list[Order]: ...
    def checkout_requested(self, limit: int) -> list[Order]:
        """Orders being checked out whose saga has not taken them yet, oldest first."""


class ReservationRepository(Protocol):
    def add(self, reservation: Reservation) -> None: ...
    def get(self, reservation_id: int) -> Reservation | None: ...


class UserRepository(Protocol):
    def add(self, username: str, display_name: str, password_hash: str,
            scopes: Sequence[str]) -> int:
        """Store a new user; raise ``StateConflict`` if the username is taken."""
        ...

    def get(self, user_id: int) -> UserView | None: ...
    def by_username(self, username: str) -> Credentials | None: ...
    def set_password_hash(self, user_id: int, password_hash: str) -> bool: ...


class IdempotencyKeys(Protocol):
    def find(self, user_id: int, key: str) -> IdempotencyRecord | None: ...

    def claim(self, user_id: int, key: str, request_hash: str) -> None:
        """Insert the key; raise :class:`KeyAlreadyClaimed` if it exists (after waiting for
        a concurrent holder to finish, on databases that do)."""
        ...

    def attach(self, user_id: int, key: str, order_id: int) -> None: ...


class Reservations(Protocol):
    """Takes and returns stock and room nights under one race-condition strategy."""

    @property
    def strategy(self) -> str: ...

    def take_stock(self, product_id: int, quantity: int) -> int:
        """Reserve units; return the unit price. Raise ``NotFound``/``SoldOut``."""
        ...

    def put_stock(self, product_id: int, quantity: int) -> None:
        """Add units (a restock, or a cancelled order's lines). Raise ``NotFound``."""
        ...

    def take_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None:
        """Reserve ``rooms`` rooms on every night, or raise ``SoldOut``."""
        ...

    def return_nights(self, room_id: int, nights: Sequence[date], rooms: int) -> None: ...


class EventOutbox(Protocol):
    """The transaction's outbox: events committed with the change they describe."""

    def add(self, type: str, event_id: str, key: str, *, at: float | None = None,
            **fields: object) -> None:
        """Queue one event (``at`` defaults to now) for the log, keyed by ``key``."""
        ...

    def stock_level(self, product_id: int) -> int | None:
        """The product's stock as this transaction sees it (None: no such product)."""
        ...


class UnitOfWork(Protocol):
    """One database transaction; leaving the ``with`` block without ``commit`` rolls back."""

    @property
    def products(self) -> ProductRepository: ...
    @property
    def rooms(self) -> RoomRepository: ...
    @property
    def orders(self) -> OrderRepository: ...
    @property
    def reservations(self) -> ReservationRepository: ...
    @property
    def users(self) -> UserRepository: ...
    @property
    def idempotency(self) -> IdempotencyKeys: ...
    @property
    def stock(self) -> Reservations: ...
    @property
    def events(self) -> EventOutbox: ...

    def __enter__(self) -> Self: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def commit(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class CatalogQueries(Protocol):
    """Read-only queries that bypass the domain model (the read side)."""

    def product(self, product_id: int) -> ProductView | None: ...
    async def product_async(self, product_id: int,
                            limiter: CapacityLimiter) -> ProductView | None:
        """``product`` without blocking the event loop: on the loop where the database
        answers at once, else in a worker thread under ``limiter``."""
        ...

    def products(self, flt: ProductFilter, after: int, limit: int) -> list[ProductView]: ...
    def products_by_id(self, product_ids: Sequence[int]) -> list[ProductView]:
        """The products among ``product_ids`` that exist, in one query (any order)."""
        ...

    def room(self, room_id: int) -> RoomView | None: ...
    async def room_async(self, room_id: int, limiter: CapacityLimiter) -> RoomView | None: ...
    def rooms_available(self, check_in: date, check_out: date,
                        rooms: int) -> list[RoomAvailability]: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
