from __future__ import annotations

import pytest

from bazaar.shop.domain import OrderStatus, StateConflict
from bazaar.shop.domain.orders import Order


def test_fulfil_is_idempotent_and_final() -> None:
    order = Order(user_id=1, id=7)
    assert order.fulfil() is True
    assert order.fulfil() is False  # the saga retries the step: a repeat changes nothing
    assert order.status == OrderStatus.FULFILLED
    with pytest.raises(StateConflict, match="fulfilled"):
        order.cancel()
    assert order.status == OrderStatus.FULFILLED


def test_a_cancelled_order_cannot_be_fulfilled() -> None:
    order = Order(user_id=1, id=8)
    order.cancel()
    with pytest.raises(StateConflict, match="cancelled"):
        order.fulfil()
    assert order.status == OrderStatus.CANCELLED
