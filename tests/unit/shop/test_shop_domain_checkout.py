"""The order's states under a checkout: the saga owns an order being checked out, so a
checkout and a customer's cancel can never both win."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.shop.domain import Checkout, OrderStatus, StateConflict
from bazaar.shop.domain.orders import Order


def test_fulfil_is_idempotent_and_final() -> None:
    order = Order(user_id=1, id=7)
    order.begin_checkout()
    assert order.fulfil() is True
    assert order.fulfil() is False  # the saga retries the step: a repeat changes nothing
    assert order.status == OrderStatus.FULFILLED
    with pytest.raises(StateConflict, match="fulfilled"):
        order.cancel()
    with pytest.raises(StateConflict):
        order.checkout_failed("too late")
    assert order.status == OrderStatus.FULFILLED


def test_a_cancelled_order_cannot_be_checked_out_or_fulfilled() -> None:
    order = Order(user_id=1, id=8)
    order.cancel()
    with pytest.raises(StateConflict, match="cancelled") as refused:
        order.begin_checkout()
    assert refused.value.reason == "cancelled"
    with pytest.raises(StateConflict, match="cancelled"):
        order.fulfil()
    assert order.checkout_failed("nothing to do") is False  # the saga never took it
    assert order.status == OrderStatus.CANCELLED and order.checkout is None


def test_an_order_being_checked_out_refuses_its_customers_cancel() -> None:
    order = Order(user_id=1, id=9)
    assert order.begin_checkout() is True
    assert order.begin_checkout() is False  # announced again: idempotent
    with pytest.raises(StateConflict) as refused:
        order.cancel()
    assert refused.value.reason == "checking_out"
    assert order.status == OrderStatus.CHECKING_OUT


def test_a_start_that_never_reached_the_saga_frees_the_order_unless_the_saga_took_it() -> None:
    order = Order(user_id=1, id=10)
    order.begin_checkout()
    assert order.checkout_not_started("orchestrator unreachable") is True
    assert (order.status, order.checkout) == (OrderStatus.PLACED, Checkout.NOT_STARTED)
    order.begin_checkout()
    order.reserve_for_checkout()  # a second request did reach the saga
    assert order.checkout_not_started("the first request failed") is False
    assert order.status == OrderStatus.CHECKING_OUT


def test_a_failed_checkout_cancels_once_and_records_why() -> None:
    order = Order(user_id=1, id=11)
    order.begin_checkout()
    order.reserve_for_checkout()
    assert order.checkout_failed() is True  # the compensation: the caller returns stock
    assert order.checkout_failed() is False  # redelivered
    assert order.checkout == Checkout.RESERVED  # still running: the close step says why
    assert order.checkout_failed("card declined") is False
    assert (order.status, order.checkout, order.checkout_reason) == (
        OrderStatus.CANCELLED, Checkout.FAILED, "card declined")


OPS = ("cancel", "begin", "not_started", "reserve", "release", "fulfil", "complete",
       "close_failed")


def _apply(order: Order, op: str) -> bool:
    """Apply ``op``; True if it returned stock (a cancel or a compensation)."""
    try:
        if op == "cancel":
            order.cancel()
            return True
        if op == "begin":
            order.begin_checkout()
        elif op == "not_started":
            order.checkout_not_started("refused")
        elif op == "reserve":
            order.reserve_for_checkout()
        elif op == "release":
            return order.checkout_failed()
        elif op == "fulfil":
            order.fulfil()
        elif op == "complete":
            order.checkout_completed()
        else:
            return order.checkout_failed("declined")
    except StateConflict:
        pass
    return False


@given(st.lists(st.sampled_from(OPS), max_size=30))
def test_any_sequence_returns_the_stock_at_most_once_and_never_after_shipping(
        ops: list[str]) -> None:
    order = Order(user_id=1, id=12)
    returned = 0
    shipped = False
    for op in ops:
        was = order.status
        returned += _apply(order, op)
        if was == OrderStatus.CHECKING_OUT and op == "cancel":
            assert order.status == OrderStatus.CHECKING_OUT, "a customer cancel won"
        shipped = shipped or order.status == OrderStatus.FULFILLED
        assert not (shipped and returned), "stock returned for an order that shipped"
    assert returned <= 1
    assert (order.status == OrderStatus.CANCELLED) == (returned == 1)
    if order.checkout == Checkout.COMPLETED:
        assert order.status == OrderStatus.FULFILLED


def test_the_checkout_progress_is_recorded_at_each_step() -> None:
    """What the order says about its checkout (``checkout``, shown to its customer) at each
    step of the saga, including a last step that arrives before the ship step's record."""
    shipped_first = Order(user_id=1, id=20)
    assert shipped_first.begin_checkout() is True
    assert shipped_first.checkout == Checkout.REQUESTED
    shipped_first.reserve_for_checkout()
    assert shipped_first.checkout == Checkout.RESERVED
    assert shipped_first.fulfil() is True
    assert (shipped_first.status, shipped_first.checkout) == (OrderStatus.FULFILLED,
                                                              Checkout.SHIPPED)
    shipped_first.checkout_completed()
    assert (shipped_first.status, shipped_first.checkout) == (OrderStatus.FULFILLED,
                                                              Checkout.COMPLETED)

    completed_directly = Order(user_id=1, id=21)
    completed_directly.begin_checkout()
    completed_directly.reserve_for_checkout()
    completed_directly.checkout_completed()  # ships it on the way
    assert (completed_directly.status, completed_directly.checkout) == (
        OrderStatus.FULFILLED, Checkout.COMPLETED)

    placed = Order(user_id=1, id=22)
    with pytest.raises(StateConflict) as refused:
        placed.checkout_completed()
    assert refused.value.reason == "placed" and placed.checkout is None


def test_a_refused_cancel_says_why_in_its_reason_code() -> None:
    """Clients switch on ``reason`` (the 409's ``reason``), not on the text."""
    cancelled = Order(user_id=1, id=30)
    cancelled.cancel()
    shipped = Order(user_id=1, id=31)
    shipped.begin_checkout()
    shipped.fulfil()
    for order, reason in ((cancelled, "cancelled"), (shipped, "fulfilled")):
        with pytest.raises(StateConflict) as refused:
            order.cancel()
        assert refused.value.reason == reason
