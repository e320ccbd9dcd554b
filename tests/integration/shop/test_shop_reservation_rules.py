"""The reservation adapters' rules that a single product or room cannot show, on SQLite and
PostgreSQL, under every strategy: a booking touches only its own room, a sold-out answer
says how many are left, stock never passes its ceiling, a give-back of what is not held
changes nothing, and a take followed by a give-back never makes a stale read current again.

Found by ``./dev mutate reservations`` (docs/testing.md): each test here kills mutants that
the racing and round-trip tests let live.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from bazaar.shop.adapters import STRATEGIES, SqlUnitsOfWork, Strategy, schema
from bazaar.shop.adapters.reservations import (
    AtomicReservations,
    ModelReservations,
    reservations_for,
)
from bazaar.shop.domain import (
    InvalidInput,
    LineRequest,
    NotFound,
    NotHeld,
    RetryableConflict,
    RoomNight,
    SoldOut,
)
from bazaar.shop.domain.products import MAX_STOCK
from bazaar.shop.services import Shop, bookings, catalog, orders, users

from .conftest import ShopFactory

START = date(2031, 3, 1)


def _reserved(engine: Engine, room_id: int) -> list[int]:
    n = schema.room_nights
    with engine.connect() as conn:
        return [int(r) for r in conn.scalars(select(n.c.reserved).where(n.c.room_id == room_id)
                                             .order_by(n.c.night))]


def _stock(engine: Engine, product_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(schema.products.c.stock)
                               .where(schema.products.c.id == product_id)) or 0)


def _nights(first: int, count: int) -> list[date]:
    return [START + timedelta(days=first + i) for i in range(count)]


def _a_booking_takes_and_gives_back_only_its_own_rooms_nights(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    uid = users.register(shop, "alice3", "", "correct horse").id
    double = catalog.create_room(shop, "DBL-3", "Double", 9000, 3, first_night=START,
                                 horizon_days=4)
    twin = catalog.create_room(shop, "TWN-3", "Twin", 8000, 3, first_night=START,
                               horizon_days=4)
    stay = bookings.reserve_room(shop, uid, double.id, START, START + timedelta(days=2), 2)
    assert _reserved(engine, double.id) == [2, 2, 0, 0]
    assert _reserved(engine, twin.id) == [0, 0, 0, 0]  # same nights, another room: untouched

    # Sold out on one night of three: the answer says how many are left (the fewest free).
    with pytest.raises(SoldOut) as info:
        bookings.reserve_room(shop, uid, double.id, START + timedelta(days=1),
                              START + timedelta(days=4), 2)
    assert (info.value.kind, info.value.requested, info.value.available) == ("room", 2, 1)
    assert str(info.value.key).split()[0] == str(double.id)  # "7", or "7 on 2031-03-02"
    assert _reserved(engine, double.id) == [2, 2, 0, 0]  # nothing of it stayed
    assert _reserved(engine, twin.id) == [0, 0, 0, 0]

    bookings.reserve_room(shop, uid, twin.id, START + timedelta(days=1),
                          START + timedelta(days=3), 3)
    bookings.reserve_room(shop, uid, double.id, START + timedelta(days=2),
                          START + timedelta(days=4), 1)
    bookings.cancel_reservation(shop, uid, stay.id)
    # The cancel gave back this stay's nights only: not the room's other stay, not Twin's.
    assert _reserved(engine, double.id) == [0, 0, 1, 1]
    assert _reserved(engine, twin.id) == [0, 3, 3, 0]


def _nights_of_no_room_or_not_on_sale_are_refused_by_name(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    room = catalog.create_room(shop, "STE-4", "Suite", 30000, 2, first_night=START,
                               horizon_days=2)
    uow = SqlUnitsOfWork(engine, strategy)
    with pytest.raises(NotFound) as missing, uow() as work:
        work.stock.take_nights(room.id + 100, _nights(0, 1), 1)
    assert (missing.value.kind, missing.value.key) == ("room", room.id + 100)
    with pytest.raises(SoldOut) as off_sale, uow() as work:  # the third night is not sold
        work.stock.take_nights(room.id, _nights(0, 3), 1)
    assert (off_sale.value.kind, off_sale.value.requested, off_sale.value.available) == (
        "room", 1, 0)
    assert str(off_sale.value.key).split()[0] == str(room.id)
    assert _reserved(engine, room.id) == [0, 0]


def _a_give_back_of_rooms_not_held_names_the_night_and_changes_nothing(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    uid = users.register(shop, "alice5", "", "correct horse").id
    room = catalog.create_room(shop, "STE-5", "Suite", 30000, 2, first_night=START,
                               horizon_days=4)
    other = catalog.create_room(shop, "TWN-5", "Twin", 8000, 2, first_night=START,
                                horizon_days=4)
    bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 1)
    bookings.reserve_room(shop, uid, other.id, START, START + timedelta(days=4), 2)
    uow = SqlUnitsOfWork(engine, strategy)
    # Nights 0 and 1 hold one room, night 2 none: giving one back over all three fails on
    # night 2, and the give-backs of nights 0 and 1 are rolled back with it.
    with pytest.raises(NotHeld) as info, uow() as work:
        work.stock.return_nights(room.id, _nights(0, 3), 1)
        work.commit()
    night = (START + timedelta(days=2)).isoformat()
    assert (info.value.kind, info.value.key, info.value.returned, info.value.held) == (
        "room", f"{room.id} on {night}", 1, 0)
    # Two back where one is held: the first night says so.
    with pytest.raises(NotHeld) as twice, uow() as work:
        work.stock.return_nights(room.id, _nights(0, 2), 2)
        work.commit()
    assert (twice.value.key, twice.value.returned, twice.value.held) == (
        f"{room.id} on {START.isoformat()}", 2, 1)
    # A night not on sale (before the first) and an empty one: refused; the atomic strategy
    # names the earlier night (the model strategies' row lookup calls it sold out).
    with pytest.raises((NotHeld, SoldOut)) as off_sale, uow() as work:
        work.stock.return_nights(room.id, [START - timedelta(days=1), *_nights(2, 1)], 1)
    if strategy == "atomic":
        assert isinstance(off_sale.value, NotHeld)
        assert (off_sale.value.key, off_sale.value.held) == (
            f"{room.id} on {(START - timedelta(days=1)).isoformat()}", 0)
    with pytest.raises(NotFound) as missing, uow() as work:
        work.stock.return_nights(room.id + 100, _nights(0, 1), 1)
    assert (missing.value.kind, missing.value.key) == ("room", room.id + 100)
    assert _reserved(engine, room.id) == [1, 1, 0, 0]
    assert _reserved(engine, other.id) == [2, 2, 2, 2]
    # And one back where one is held is fine, for this room only.
    with uow() as work:
        work.stock.return_nights(room.id, _nights(0, 2), 1)
        work.commit()
    assert _reserved(engine, room.id) == [0, 0, 0, 0]
    assert _reserved(engine, other.id) == [2, 2, 2, 2]


def _stock_is_restocked_up_to_its_ceiling_and_not_past_it(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    pid = catalog.create_product(shop, "PEN-1-6", "Pen", 100, MAX_STOCK - 3).id
    other = catalog.create_product(shop, "INK-1-6", "Ink", 100, 7).id
    with pytest.raises(InvalidInput) as info:
        catalog.restock(shop, pid, 4)
    assert info.value.field == "quantity"
    assert _stock(engine, pid) == MAX_STOCK - 3
    assert catalog.restock(shop, pid, 3).stock == MAX_STOCK
    assert _stock(engine, pid) == MAX_STOCK and _stock(engine, other) == 7
    with pytest.raises(InvalidInput):
        catalog.restock(shop, pid, 1)
    with pytest.raises(NotFound) as missing:
        catalog.restock(shop, pid + 100, 1)
    assert (missing.value.kind, missing.value.key) == ("product", pid + 100)
    uow = SqlUnitsOfWork(engine, strategy)
    with pytest.raises(NotFound) as taken, uow() as work:
        work.stock.take_stock(pid + 100, 1)
    assert (taken.value.kind, taken.value.key) == ("product", pid + 100)
    with pytest.raises(SoldOut) as sold, uow() as work:
        work.stock.take_stock(other, 8)
    assert (sold.value.kind, sold.value.key, sold.value.requested, sold.value.available) == (
        "product", other, 8, 7)
    with uow() as work:
        assert work.stock.take_stock(other, 7) == 100  # the unit price comes back
        work.commit()
    assert _stock(engine, other) == 0 and _stock(engine, pid) == MAX_STOCK


def _a_take_then_a_give_back_leaves_a_stale_product_read_stale(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    """An optimistic buyer read the product; meanwhile someone else orders, or cancels, or
    orders and cancels (stock back where it was). Each write moves the version forward, so
    the stale write is refused: with a write that left the version alone, or one that moved
    it down and then up again (ABA), the stale write would overwrite the stock."""
    uid = users.register(shop, "alice7", "", "correct horse").id
    pid = catalog.create_product(shop, "PEN-1-7", "Pen", 100, 5).id
    uow = SqlUnitsOfWork(engine, "optimistic")
    earlier = orders.place_order(shop, uid, [LineRequest(pid, 1)]).order.id

    def meanwhile_order() -> None:
        orders.place_order(shop, uid, [LineRequest(pid, 1)])

    def meanwhile_cancel() -> None:
        orders.cancel_order(shop, uid, earlier)

    def meanwhile_order_and_cancel() -> None:
        placed = orders.place_order(shop, uid, [LineRequest(pid, 2)])
        orders.cancel_order(shop, uid, placed.order.id)

    for meanwhile in (meanwhile_order, meanwhile_cancel, meanwhile_order_and_cancel):
        with pytest.raises(RetryableConflict), uow() as work:
            seen = work.products.get(pid)
            assert seen is not None
            work.commit()
            meanwhile()
            after = _stock(engine, pid)
            work.stock.take_stock(pid, 1)  # from the stale read
            work.commit()
        assert _stock(engine, pid) == after, meanwhile.__name__


def _a_booking_then_a_cancel_leaves_a_stale_night_read_stale(
        shop: Shop, engine: Engine, strategy: Strategy) -> None:
    uid = users.register(shop, "alice8", "", "correct horse").id
    room = catalog.create_room(shop, "STE-8", "Suite", 30000, 3, first_night=START,
                               horizon_days=2)
    uow = SqlUnitsOfWork(engine, "optimistic")
    n = schema.room_nights
    earlier = bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 1).id

    def meanwhile_book() -> None:
        bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 1)

    def meanwhile_cancel() -> None:
        bookings.cancel_reservation(shop, uid, earlier)

    def meanwhile_book_and_cancel() -> None:
        stay = bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 1)
        bookings.cancel_reservation(shop, uid, stay.id)

    for meanwhile in (meanwhile_book, meanwhile_cancel, meanwhile_book_and_cancel):
        with pytest.raises(RetryableConflict), uow() as work:
            seen = list(work.session.scalars(select(RoomNight).where(n.c.room_id == room.id)))
            assert len(seen) == 2
            work.commit()
            meanwhile()
            after = _reserved(engine, room.id)
            work.stock.take_nights(room.id, _nights(0, 2), 1)  # from the stale read
            work.commit()
        assert _reserved(engine, room.id) == after, meanwhile.__name__


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_reservation_rules(make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    """Each rule above on one database per strategy (a fresh database per rule would cost
    the suite a PostgreSQL database each)."""
    shop = make_shop(strategy)
    for rule in (_a_booking_takes_and_gives_back_only_its_own_rooms_nights,
                 _nights_of_no_room_or_not_on_sale_are_refused_by_name,
                 _a_give_back_of_rooms_not_held_names_the_night_and_changes_nothing,
                 _stock_is_restocked_up_to_its_ceiling_and_not_past_it,
                 _a_take_then_a_give_back_leaves_a_stale_product_read_stale,
                 _a_booking_then_a_cancel_leaves_a_stale_night_read_stale):
        rule(shop, engine, strategy)


def test_an_unknown_strategy_is_refused() -> None:
    session = Session()  # no database needed: the choice is made before any statement
    with pytest.raises(ValueError, match="unknown reservation strategy 'fifo'"):
        reservations_for(session, "fifo")  # type: ignore[arg-type]
    assert isinstance(reservations_for(session, "atomic"), AtomicReservations)
    for strategy in ("pessimistic", "optimistic"):
        chosen = reservations_for(session, strategy)
        assert isinstance(chosen, ModelReservations) and chosen.strategy == strategy
