"""The shop's domain: plain Python, no I/O, no framework."""

from bazaar.shop.domain.errors import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    NotHeld,
    RetryableConflict,
    ShopError,
    SoldOut,
    StateConflict,
    Unavailable,
)
from bazaar.shop.domain.orders import (
    Checkout,
    LineRequest,
    Order,
    OrderLine,
    OrderStatus,
    normalise_lines,
)
from bazaar.shop.domain.products import Product, check_quantity, new_product
from bazaar.shop.domain.rooms import (
    Reservation,
    ReservationStatus,
    Room,
    RoomNight,
    check_rooms,
    new_room,
    stay_nights,
)
from bazaar.shop.domain.users import (
    ADMIN_SCOPE,
    CUSTOMER_SCOPES,
    NewUser,
    validate_registration,
)

__all__ = [
    "ADMIN_SCOPE",
    "CUSTOMER_SCOPES",
    "Checkout",
    "Forbidden",
    "IdempotencyKeyReused",
    "InvalidInput",
    "LineRequest",
    "NewUser",
    "NotFound",
    "NotHeld",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Product",
    "Reservation",
    "ReservationStatus",
    "RetryableConflict",
    "Room",
    "RoomNight",
    "ShopError",
    "SoldOut",
    "StateConflict",
    "Unavailable",
    "check_quantity",
    "check_rooms",
    "new_product",
    "new_room",
    "normalise_lines",
    "stay_nights",
    "validate_registration",
]
