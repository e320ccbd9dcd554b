"""Domain rules: stock and room nights never go below zero, orders merge and sort lines."""

from __future__ import annotations

import contextlib
import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.shop.domain import (
    InvalidInput,
    LineRequest,
    Order,
    OrderLine,
    Product,
    Reservation,
    RoomNight,
    SoldOut,
    StateConflict,
    new_product,
    new_room,
    normalise_lines,
    stay_nights,
    validate_registration,
)


@given(stock=st.integers(0, 50), asks=st.lists(st.integers(1, 20), max_size=30))
def test_reserving_never_oversells(stock: int, asks: list[int]) -> None:
    product = Product("SKU-1", "thing", 100, stock)
    granted = 0
    for ask in asks:
        before = product.stock
        try:
            product.reserve(ask)
            granted += ask
        except SoldOut as exc:
            assert product.stock == before  # a refusal changes nothing
            assert exc.available == before < ask
    assert product.stock == stock - granted >= 0


@given(total=st.integers(1, 10), asks=st.lists(st.integers(1, 10), max_size=30))
def test_room_nights_never_double_booked(total: int, asks: list[int]) -> None:
    night = RoomNight(1, date(2026, 1, 1), total)
    for ask in asks:
        with contextlib.suppress(SoldOut):
            night.book(ask)
        assert 0 <= night.reserved <= total
    night.release(10)
    assert night.reserved >= 0


@given(st.lists(st.tuples(st.integers(1, 20), st.integers(1, 30)), min_size=1, max_size=40))
def test_lines_merge_per_product_and_sort(pairs: list[tuple[int, int]]) -> None:
    lines = normalise_lines(LineRequest(p, q) for p, q in pairs)
    ids = [ln.product_id for ln in lines]
    assert ids == sorted(set(ids))  # fixed lock order, one line per product
    for ln in lines:
        assert ln.quantity == sum(q for p, q in pairs if p == ln.product_id)


@pytest.mark.parametrize(("lines", "field"), [
    ([], "lines"),
    ([LineRequest(1, 0)], "lines.0.quantity"),
    ([LineRequest(0, 1)], "lines.0.product_id"),
    ([LineRequest(1, 1), LineRequest(2, 1001)], "lines.1.quantity"),
    ([LineRequest(1, 600), LineRequest(1, 600)], "lines.1.quantity"),
    ([LineRequest(i, 1) for i in range(1, 52)], "lines"),
])
def test_bad_lines_name_the_field(lines: list[LineRequest], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        normalise_lines(lines)
    assert info.value.field == field


def test_order_total_and_cancel_once() -> None:
    order = Order(user_id=1, lines=[OrderLine(1, 2, 150), OrderLine(2, 1, 99)])
    assert order.total_cents == 399
    order.cancel()
    with pytest.raises(StateConflict):
        order.cancel()


@given(start=st.dates(date(2000, 1, 1), date(2100, 1, 1)), length=st.integers(1, 30))
def test_stay_nights_are_consecutive(start: date, length: int) -> None:
    nights = stay_nights(start, start + timedelta(days=length))
    assert len(nights) == length and nights[0] == start
    assert all(b - a == timedelta(days=1) for a, b in itertools.pairwise(nights))


@pytest.mark.parametrize("days", [0, -1, 31])
def test_bad_stays_are_refused(days: int) -> None:
    with pytest.raises(InvalidInput) as info:
        stay_nights(date(2026, 1, 1), date(2026, 1, 1) + timedelta(days=days))
    assert info.value.field == "check_out"


def test_reservation_cancels_once() -> None:
    r = Reservation(1, 1, date(2026, 1, 1), date(2026, 1, 3), 1, 100)
    assert len(r.nights) == 2
    r.cancel()
    with pytest.raises(StateConflict):
        r.cancel()


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"sku": "bad sku"}, "sku"),
    ({"name": "  "}, "name"),
    ({"price_cents": -1}, "price_cents"),
    ({"stock": -5}, "stock"),
])
def test_new_product_validation(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"sku": "MUG-1", "name": "Mug", "price_cents": 100, "stock": 1}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as info:
        new_product(**args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_restock_bounds_and_room_validation() -> None:
    p = new_product("MUG-1", " Mug ", 100, 1)
    assert p.name == "Mug"
    p.restock(5)
    assert p.stock == 6
    with pytest.raises(InvalidInput):
        p.restock(0)
    with pytest.raises(InvalidInput) as info:
        new_room("DBL", "Double", 100, 0)
    assert info.value.field == "count"


@pytest.mark.parametrize(("username", "password", "field"), [
    ("ab", "long enough", "username"),
    ("Has Space", "long enough", "username"),
    ("alice", "short", "password"),
])
def test_registration_rules(username: str, password: str, field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_registration(username, "", password)
    assert info.value.field == field
    assert validate_registration("alice", "", "long enough").display_name == "alice"
