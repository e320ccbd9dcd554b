"""Domain rules: stock and room nights never go below zero, orders merge and sort lines."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.shop.domain import (
    InvalidInput,
    LineRequest,
    NotHeld,
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

# Each step is ("take", n) or ("give", n): a buyer reserving n units / rooms, or a
# cancelled order or stay handing n back (only what is actually held can come back).
steps = st.lists(st.tuples(st.sampled_from(["take", "give"]), st.integers(1, 10)),
                 max_size=40)


@given(stock=st.integers(0, 30), script=steps)
def test_stock_follows_a_model_of_takes_and_give_backs(
        stock: int, script: list[tuple[str, int]]) -> None:
    """Against a plain counter: a take succeeds exactly when enough is left, a refusal
    says how much is left and changes nothing, and stock + held always equals what the
    product started with."""
    product = Product("SKU-1", "thing", 100, stock)
    held: list[int] = []  # quantities on live orders
    for kind, n in script:
        left = stock - sum(held)
        if kind == "take":
            if n <= left:
                product.reserve(n)
                held.append(n)
            else:
                with pytest.raises(SoldOut) as info:
                    product.reserve(n)
                assert (info.value.requested, info.value.available) == (n, left)
        elif held:
            back = held.pop(n % len(held))
            product.restock(back)
        assert product.stock == stock - sum(held)


@given(total=st.integers(1, 10), script=steps)
def test_a_room_night_follows_a_model_of_bookings_and_releases(
        total: int, script: list[tuple[str, int]]) -> None:
    """A booking succeeds exactly when that many rooms are free; a release gives back a
    booking's rooms, no more, no less; ``available`` is always total minus what is held."""
    night = RoomNight(1, date(2026, 1, 1), total)
    held: list[int] = []
    for kind, n in script:
        free = total - sum(held)
        if kind == "take":
            if n <= free:
                night.book(n)
                held.append(n)
            else:
                with pytest.raises(SoldOut) as info:
                    night.book(n)
                assert (info.value.requested, info.value.available) == (n, free)
        elif held:
            night.release(held.pop(n % len(held)))
        else:  # nothing is held: any give-back is a second one, refused
            with pytest.raises(NotHeld):
                night.release(n)
        assert (night.reserved, night.available) == (sum(held), total - sum(held))


def test_a_second_give_back_of_a_night_is_an_error_not_clamped_at_zero() -> None:
    night = RoomNight(7, date(2026, 1, 1), total=5)
    night.book(2)
    night.release(2)
    with pytest.raises(NotHeld) as info:
        night.release(2)
    assert (info.value.returned, info.value.held) == (2, 0)
    assert "7 on 2026-01-01" in str(info.value) and night.reserved == 0
    night.book(3)
    with pytest.raises(NotHeld):
        night.release(4)  # more than is held: nothing given back
    assert night.reserved == 3


line_pairs = st.lists(st.tuples(st.integers(1, 20), st.integers(1, 30)), min_size=1,
                      max_size=40)


@given(pairs=line_pairs, seed=st.randoms(use_true_random=False))
def test_normalised_lines_do_not_depend_on_order_or_repetition(
        pairs: list[tuple[int, int]], seed: random.Random) -> None:
    """The same basket however it was typed: shuffling the lines or normalising twice
    changes nothing, and no unit is lost or invented on the way."""
    lines = [LineRequest(p, q) for p, q in pairs]
    once = normalise_lines(lines)
    shuffled = lines[:]
    seed.shuffle(shuffled)
    assert normalise_lines(shuffled) == once
    assert normalise_lines(once) == once
    assert sum(ln.quantity for ln in once) == sum(q for _, q in pairs)
    assert {ln.product_id for ln in once} == {p for p, _ in pairs}
    ids = [ln.product_id for ln in once]
    assert ids == sorted(ids) and len(ids) == len(set(ids))  # one lock order for everyone


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


@given(start=st.dates(date(2000, 1, 1), date(2100, 1, 1)), length=st.integers(1, 30),
       split=st.integers(1, 29))
def test_stay_nights_are_every_night_from_check_in_to_the_night_before_check_out(
        start: date, length: int, split: int) -> None:
    end = start + timedelta(days=length)
    nights = stay_nights(start, end)
    assert nights == [start + timedelta(days=i) for i in range(length)]
    assert nights[-1] == end - timedelta(days=1)  # check-out day is not a night
    if split < length:  # two back-to-back stays cover the same nights, none twice
        middle = start + timedelta(days=split)
        assert stay_nights(start, middle) + stay_nights(middle, end) == nights


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
