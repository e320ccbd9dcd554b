"""Checkout: run the order's saga (reserve → charge → ship → notify), the way the settings
say (orchestration or choreography), and the saga's inventory steps on the shop's own stock.

Placing an order already took its stock (``orders.place_order``), so the saga's *reserve*
step confirms the order still holds it, *release* is the shop's own ``cancel_order`` (stock
returned, once), and *fulfil* has nothing left to move. The saga's other services (payment,
shipping, notification) are ``bazaar.flow``'s; the starter port hides which way runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bazaar.shop.domain import NotFound, OrderStatus, StateConflict
from bazaar.shop.services import orders
from bazaar.shop.services.shop import Shop


class CheckoutStarter(Protocol):
    """Starts the saga for an order; idempotent per order id."""

    @property
    def mode(self) -> str: ...

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        """Start (or find) the order's saga; return its id."""
        ...


class CheckoutStatus(Protocol):
    """Where an order's saga is: ``(status, reason)`` or None if it never started."""

    def status(self, order_id: int) -> tuple[str, str | None] | None: ...


@dataclass(frozen=True)
class CheckoutState:
    order_id: int
    status: str  # not_started | pending | completed | failed
    reason: str | None


@dataclass(frozen=True)
class CheckoutStarted:
    order_id: int
    mode: str
    saga_id: str


def start_checkout(shop: Shop, starter: CheckoutStarter, user_id: int,
                   order_id: int) -> CheckoutStarted:
    """Check out the caller's placed order (someone else's is ``NotFound``)."""
    view = orders.get_order(shop, user_id, order_id)
    if view.status != OrderStatus.PLACED:
        raise StateConflict(f"order {order_id} is {view.status}; only a placed order checks out")
    items = {str(line.product_id): line.quantity for line in view.lines}
    return CheckoutStarted(order_id, starter.mode,
                           starter.start(order_id, items, view.total_cents))


@dataclass(frozen=True)
class _OrderState:
    status: str
    user_id: int


def checkout_state(shop: Shop, tracker: CheckoutStatus, user_id: int,
                   order_id: int) -> CheckoutState:
    """The caller's order's checkout: still running, completed, or failed and why."""
    orders.get_order(shop, user_id, order_id)  # someone else's order is NotFound
    found = tracker.status(order_id)
    if found is None:
        return CheckoutState(order_id, "not_started", None)
    return CheckoutState(order_id, found[0], found[1])


def _order(shop: Shop, order_id: int) -> _OrderState:
    with shop.uow() as uow:
        order = uow.orders.get(order_id)
        if order is None:
            raise NotFound("order", order_id)
        return _OrderState(str(order.status), order.user_id)


def reserve_stock(shop: Shop, order_id: int) -> dict[str, Any]:
    """The saga's reserve step: the placed order holds its stock; a cancelled one does not."""
    order = _order(shop, order_id)
    if order.status != OrderStatus.PLACED:
        raise StateConflict(f"order {order_id} is {order.status}: its stock was returned")
    return {"reservation": str(order_id)}


def release_stock(shop: Shop, order_id: int) -> dict[str, Any]:
    """The saga's compensation: cancel the order, returning its stock (at most once)."""
    order = _order(shop, order_id)
    if order.status != OrderStatus.PLACED:
        return {"released": False}
    try:
        orders.cancel_order(shop, order.user_id, order_id)
    except StateConflict:  # a concurrent release won
        return {"released": False}
    return {"released": True}


def fulfil_stock(shop: Shop, order_id: int) -> dict[str, Any]:
    """The parcel left: the order becomes ``fulfilled`` (no longer cancellable). Its stock
    already left with the order when it was placed. Idempotent: the saga retries it."""

    def attempt() -> bool:
        with shop.uow() as uow:
            order = uow.orders.get(order_id)
            if order is None:
                raise NotFound("order", order_id)
            changed = order.fulfil()
            uow.commit()
            return changed

    shop.retry.run(attempt)
    return {"fulfilled": True}
