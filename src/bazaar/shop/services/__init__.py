"""The shop's use cases and the ports they need (implemented by ``bazaar.shop.adapters``).

Use cases are plain functions taking a :class:`Shop` first: ``catalog``, ``orders``,
``bookings``, ``users``, ``seed``.
"""

from bazaar.shop.services import bookings, catalog, orders, seed, users
from bazaar.shop.services.ports import (
    CatalogQueries,
    IdempotencyKeys,
    IdempotencyRecord,
    KeyAlreadyClaimed,
    OrderRepository,
    PasswordHasher,
    ProductRepository,
    ReservationRepository,
    Reservations,
    RoomRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    UserRepository,
)
from bazaar.shop.services.reads import (
    CatalogReader,
    DirectReader,
    NoInvalidation,
    ReadInvalidation,
)
from bazaar.shop.services.retry import ConflictRetry
from bazaar.shop.services.shop import Shop
from bazaar.shop.services.views import (
    Credentials,
    LineView,
    OrderView,
    Page,
    PlacedOrder,
    ProductFilter,
    ProductView,
    ReservationView,
    RoomAvailability,
    RoomView,
    UserView,
)

__all__ = [
    "CatalogQueries",
    "CatalogReader",
    "ConflictRetry",
    "Credentials",
    "DirectReader",
    "IdempotencyKeys",
    "IdempotencyRecord",
    "KeyAlreadyClaimed",
    "LineView",
    "NoInvalidation",
    "OrderRepository",
    "OrderView",
    "Page",
    "PasswordHasher",
    "PlacedOrder",
    "ProductFilter",
    "ProductRepository",
    "ProductView",
    "ReadInvalidation",
    "ReservationRepository",
    "ReservationView",
    "Reservations",
    "RoomAvailability",
    "RoomRepository",
    "RoomView",
    "Shop",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "UserRepository",
    "UserView",
    "bookings",
    "catalog",
    "orders",
    "seed",
    "users",
]
