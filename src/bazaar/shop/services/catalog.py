"""Catalogue use cases: products (create, restock, browse) and room types (create, search)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from bazaar.shop.domain import (
    InvalidInput,
    NotFound,
    RoomNight,
    check_rooms,
    new_product,
    new_room,
    stay_nights,
)
from bazaar.shop.services import events
from bazaar.shop.services.shop import Shop
from bazaar.shop.services.views import (
    Page,
    ProductFilter,
    ProductView,
    RoomAvailability,
    RoomView,
)

MAX_PAGE = 100
#: How far ahead a new room type can be booked.
BOOKING_HORIZON_DAYS = 365


def today() -> date:
    return datetime.now(UTC).date()


def create_product(shop: Shop, sku: str, name: str, price_cents: int,
                   stock: int) -> ProductView:
    """Add a product; ``StateConflict`` if the SKU exists."""
    product = new_product(sku, name, price_cents, stock)
    with shop.uow() as uow:
        uow.products.add(product)
        assert product.id is not None
        events.stock_changed(uow, [product.id], "new")
        uow.commit()
    assert product.id is not None
    # Drops a cached "not found"; the read cache's Bloom guard learns the new id.
    shop.invalidation.product_changed(product.id)
    return ProductView(product.id, product.sku, product.name, product.price_cents, product.stock)


def restock(shop: Shop, product_id: int, quantity: int) -> ProductView:
    """Add ``quantity`` units to a product's stock."""
    if isinstance(quantity, bool) or quantity < 1:
        raise InvalidInput("quantity", "must be a positive integer")

    def attempt() -> None:
        with shop.uow() as uow:
            uow.stock.put_stock(product_id, quantity)
            events.stock_changed(uow, [product_id])
            uow.commit()

    shop.retry.run(attempt)
    shop.invalidation.product_changed(product_id)
    view = shop.queries.product(product_id)
    if view is None:
        raise NotFound("product", product_id)
    return view


def check_page(after: int, limit: int) -> None:
    if after < 0:
        raise InvalidInput("after", "must be 0 or a previous page's next_after")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_PAGE}")


def list_products(shop: Shop, flt: ProductFilter, after: int = 0,
                  limit: int = 20) -> Page[ProductView]:
    """Products by id, after the id ``after``, filtered; keyset pagination."""
    check_page(after, limit)
    if flt.q is not None and len(flt.q) > 100:
        raise InvalidInput("q", "must be at most 100 characters")
    for name in ("min_price_cents", "max_price_cents"):
        value = getattr(flt, name)
        if value is not None and value < 0:
            raise InvalidInput(name, "must be 0 or more")
    items = shop.queries.products(flt, after, limit + 1)
    more = len(items) > limit
    items = items[:limit]
    return Page(tuple(items), items[-1].id if more else None)


#: The most products one batch read may name (a GraphQL DataLoader's batch, say).
MAX_BATCH = 1000


def products_by_id(shop: Shop, product_ids: Sequence[int]) -> dict[int, ProductView]:
    """The products among ``product_ids`` that exist, by id, in one read: what an edge
    that resolves many orders' lines needs (no query per line)."""
    if len(product_ids) > MAX_BATCH:
        raise InvalidInput("product_ids", f"at most {MAX_BATCH} ids in one read")
    return {view.id: view for view in shop.queries.products_by_id(product_ids)}


def create_room(shop: Shop, code: str, name: str, price_cents: int, count: int,
                first_night: date | None = None,
                horizon_days: int = BOOKING_HORIZON_DAYS) -> RoomView:
    """Add a room type with ``count`` rooms, bookable for ``horizon_days`` nights."""
    room = new_room(code, name, price_cents, count)
    start = first_night or today()
    with shop.uow() as uow:
        uow.rooms.add(room)
        assert room.id is not None
        uow.rooms.add_nights([RoomNight(room.id, start + timedelta(days=i), count)
                              for i in range(horizon_days)])
        uow.commit()
    assert room.id is not None
    shop.invalidation.room_changed(room.id)
    return RoomView(room.id, room.code, room.name, room.price_cents, room.count)


def search_rooms(shop: Shop, check_in: date, check_out: date,
                 rooms: int = 1) -> list[RoomAvailability]:
    """Room types with at least ``rooms`` rooms free on every night of the stay."""
    stay_nights(check_in, check_out)
    check_rooms(rooms)
    return shop.queries.rooms_available(check_in, check_out, rooms)
