"""What a refusal leaves behind — nothing — racing cancels of a reservation, and a double
give-back of nights refused, on SQLite and PostgreSQL under every reservation strategy."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from bazaar.shop.adapters import STRATEGIES, Strategy, schema
from bazaar.shop.domain import LineRequest, NotFound, NotHeld, SoldOut, StateConflict
from bazaar.shop.services import bookings, catalog, orders, users

from .conftest import ShopFactory

START = date(2033, 7, 1)


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
                for t in (schema.orders, schema.order_lines, schema.idempotency_keys,
                          schema.reservations)}


def _stock(engine: Engine) -> dict[int, int]:
    p = schema.products
    with engine.connect() as conn:
        return {int(r.id): int(r.stock) for r in conn.execute(select(p.c.id, p.c.stock))}


def _reserved(engine: Engine, room_id: int) -> list[int]:
    n = schema.room_nights
    with engine.connect() as conn:
        return [int(r) for r in conn.scalars(select(n.c.reserved).where(n.c.room_id == room_id)
                                             .order_by(n.c.night))]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_sold_out_attempt_stores_nothing(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = users.register(shop, "alice", "", "correct horse").id
    plenty = catalog.create_product(shop, "A-1", "Apple", 100, 9).id
    scarce = catalog.create_product(shop, "B-1", "Bread", 250, 1).id
    orders.place_order(shop, uid, [LineRequest(plenty, 1)], "earlier")
    before, stock = _rows(engine), _stock(engine)

    # The first line could be taken, the second cannot: neither is, and the key is not used up.
    with pytest.raises(SoldOut) as info:
        orders.place_order(shop, uid, [LineRequest(plenty, 3), LineRequest(scarce, 2)], "k-1")
    assert (info.value.key, info.value.requested, info.value.available) == (scarce, 2, 1)
    assert _rows(engine) == before  # no order row, no line, no idempotency record
    assert _stock(engine) == stock
    assert len(orders.list_orders(shop, uid).items) == 1

    # Because nothing was recorded, the same key may carry a basket that fits: it is a new
    # order (not a replay, not "key reused"), and only now does the stock move.
    placed = orders.place_order(shop, uid, [LineRequest(plenty, 3), LineRequest(scarce, 1)],
                                "k-1")
    assert not placed.replayed
    assert _stock(engine) == {plenty: stock[plenty] - 3, scarce: 0}
    after = _rows(engine)
    assert (after["orders"], after["order_lines"], after["idempotency_keys"]) == (
        before["orders"] + 1, before["order_lines"] + 2, before["idempotency_keys"] + 1)

    # Rooms: a stay whose last night is full books none of its nights.
    room = catalog.create_room(shop, "SGL", "Single", 5000, 1, first_night=START,
                               horizon_days=4)
    bookings.reserve_room(shop, uid, room.id, START + timedelta(days=2),
                          START + timedelta(days=3))
    rows = _rows(engine)
    with pytest.raises(SoldOut):
        bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=3))
    assert _reserved(engine, room.id) == [0, 0, 1, 0]
    assert _rows(engine) == rows


def _race(k: int, fn: Callable[[], object]) -> list[str]:
    """``fn`` in k threads released together: "ok" or "already" (StateConflict) each."""
    outcomes: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(k)

    def run() -> None:
        barrier.wait(timeout=30)
        try:
            fn()
            outcomes.append("ok")
        except StateConflict:
            outcomes.append("already")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(k)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    return sorted(outcomes)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_racing_cancels_of_a_reservation_return_the_nights_once(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy) -> None:
    shop = make_shop(strategy)
    uid = users.register(shop, "alice", "", "correct horse").id
    other = users.register(shop, "bob", "", "correct horse").id
    rounds, k = 3, 6
    room = catalog.create_room(shop, "DBL", "Double", 9000, 2 * rounds + 2,
                               first_night=START, horizon_days=3)
    # Bob holds as many rooms as each of Alice's bookings: a second give-back of hers
    # would eat into his (the night's count cannot hide it by stopping at zero).
    bookings.reserve_room(shop, other, room.id, START, START + timedelta(days=3), 2)
    mine = [bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 2)
            for _ in range(rounds)]
    full = 2 * rounds + 2
    assert _reserved(engine, room.id) == [full, full, 2]

    with pytest.raises(NotFound):  # someone else's: refused, nothing returned
        bookings.cancel_reservation(shop, other, mine[0].id)
    assert _reserved(engine, room.id) == [full, full, 2]

    for n, booking in enumerate(mine, start=1):
        outcomes = _race(k, lambda b=booking: bookings.cancel_reservation(shop, uid, b.id))
        assert outcomes == ["already"] * (k - 1) + ["ok"], (n, outcomes)
        # Alice's two rooms come back once; Bob's booking is untouched.
        assert _reserved(engine, room.id) == [full - 2 * n, full - 2 * n, 2]
        assert bookings.get_reservation(shop, uid, booking.id).status == "cancelled"
    with pytest.raises(StateConflict):
        bookings.cancel_reservation(shop, uid, mine[0].id)
    assert _reserved(engine, room.id) == [2, 2, 2]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_double_give_back_of_nights_is_detected_and_changes_nothing(
        make_shop: ShopFactory, engine: Engine, strategy: Strategy,
        caplog: pytest.LogCaptureFixture) -> None:
    """A give-back of rooms a night does not hold is an error (``NotHeld``), whichever
    strategy runs it — the conditional UPDATE sees too few rows, the domain sees too few
    reserved — never a quiet clamp at zero; the transaction rolls back, and a cancel that
    meets one is logged and leaves the reservation booked."""
    shop = make_shop(strategy)
    uid = users.register(shop, "alice", "", "correct horse").id
    room = catalog.create_room(shop, "TWN", "Twin", 8000, 4, first_night=START,
                               horizon_days=3)
    stay = [START, START + timedelta(days=1)]
    booking = bookings.reserve_room(shop, uid, room.id, START, START + timedelta(days=2), 2)
    assert _reserved(engine, room.id) == [2, 2, 0]

    # The port itself: a stay's rooms given back twice in one transaction; then a give-back
    # that includes a night holding none.
    with shop.uow() as uow:
        uow.stock.return_nights(room.id, stay, 2)
        with pytest.raises(NotHeld) as info:
            uow.stock.return_nights(room.id, stay, 2)
    assert (info.value.returned, info.value.held) == (2, 0)
    assert f"{room.id} on {START.isoformat()}" in str(info.value)
    assert _reserved(engine, room.id) == [2, 2, 0]  # not committed: nothing moved
    with shop.uow() as uow, pytest.raises(NotHeld) as info:
        uow.stock.return_nights(room.id, [*stay, START + timedelta(days=2)], 1)
    assert f"on {(START + timedelta(days=2)).isoformat()}" in str(info.value)
    assert _reserved(engine, room.id) == [2, 2, 0]

    # Books that already lost the nights (the give-back happened behind the reservation's
    # back): the cancel is refused with the error logged, the reservation stays booked.
    n = schema.room_nights
    with engine.begin() as conn:
        conn.execute(update(n).where(n.c.room_id == room.id, n.c.night == stay[1])
                     .values(reserved=1, version=n.c.version + 1))
    with caplog.at_level(logging.ERROR, logger="bazaar.shop"), pytest.raises(NotHeld):
        bookings.cancel_reservation(shop, uid, booking.id)
    assert any("double give-back" in r.getMessage() and f"reservation {booking.id}"
               in r.getMessage() for r in caplog.records), caplog.text
    assert _reserved(engine, room.id) == [2, 1, 0]
    assert bookings.get_reservation(shop, uid, booking.id).status == "booked"
