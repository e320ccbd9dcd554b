"""Checkout: the shop's side of the order's saga (reserve → charge → ship → notify), run the
way the settings say (orchestration or choreography) behind the starter port.

The shop's order is the one order record the saga moves, and ownership is decided here,
once: ``POST /orders/{id}/checkout`` moves the order ``placed → checking_out`` in one
version-checked transaction *before* the saga is asked to run. From then on the saga owns
it: the customer's cancel is refused (409, ``reason: checking_out``), and only the saga ends
it — ``fulfilled`` once it shipped, or ``cancelled`` with its stock returned when the saga
fails (after refunding). A cancel that commits first makes the checkout a 409 instead. So a
checkout and a cancel can never both win.

The saga's steps served by the shop: *reserve* confirms the order is being checked out and
takes it (from then on even a lost start request cannot hand it back), *release* is the
compensation (cancelled, stock returned once), *fulfil* marks it shipped, *close* records the
outcome and the reason. Payment, shipping and notification are ``bazaar.flow.checkout``'s
services, reached only through the saga.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bazaar.shop.domain import (
    Checkout,
    NotFound,
    Order,
    OrderStatus,
    StateConflict,
    Unavailable,
)
from bazaar.shop.services import events, orders
from bazaar.shop.services.shop import Shop


class CheckoutNotStarted(Unavailable):
    """The saga certainly never received the request (nothing was sent): the order goes
    back to ``placed`` and the customer may try again or cancel."""


class CheckoutStarter(Protocol):
    """Asks the saga to run for an order; idempotent per order id. Raises
    :class:`CheckoutNotStarted` when the request certainly never left, ``Unavailable``
    when its fate is unknown (the order stays checking out; POST again to re-announce)."""

    @property
    def mode(self) -> str: ...

    def start(self, order_id: int, items: dict[str, int], amount_cents: int) -> str:
        """Start (or find) the order's saga; return its id."""
        ...


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


def _change(shop: Shop, order_id: int, change: Any, user_id: int | None = None) -> Any:
    """Run ``change(order, uow)`` on the order in one version-checked transaction."""

    def attempt() -> Any:
        with shop.uow() as uow:
            order = uow.orders.get(order_id)
            if order is None or (user_id is not None and order.user_id != user_id):
                raise NotFound("order", order_id)
            result = change(order, uow)
            uow.commit()
            return result

    return shop.retry.run(attempt)


def start_checkout(shop: Shop, starter: CheckoutStarter, user_id: int,
                   order_id: int) -> CheckoutStarted:
    """Check out the caller's placed order (someone else's is ``NotFound``): the order is
    the checkout's from the moment this commits, then the saga is asked to run."""
    view = orders.get_order(shop, user_id, order_id)
    _change(shop, order_id, lambda order, _: order.begin_checkout(), user_id)
    items = {str(line.product_id): line.quantity for line in view.lines}
    try:
        saga_id = starter.start(order_id, items, view.total_cents)
    except CheckoutNotStarted as exc:
        reason = f"the checkout could not start: {exc}"
        _change(shop, order_id, lambda order, _: order.checkout_not_started(reason))
        raise
    return CheckoutStarted(order_id, starter.mode, saga_id)


def announce_waiting(shop: Shop, starter: CheckoutStarter, limit: int = 100) -> int:
    """Ask the saga again for every order still ``checking_out`` that no saga has taken
    (the API died between its commit and the request, or the request's fate was unknown):
    starting is idempotent per order, so a saga that did start is only found again. Stops
    at the first unreachable saga (the next round tries again); returns how many were
    announced."""
    with shop.uow() as uow:
        waiting = [(order.id, {str(ln.product_id): ln.quantity for ln in order.lines},
                    order.total_cents) for order in uow.orders.checkout_requested(limit)]
    announced = 0
    for order_id, items, amount in waiting:
        assert order_id is not None
        try:
            starter.start(order_id, items, amount)
        except Unavailable:
            break
        announced += 1
    return announced


_STATES = {None: "not_started", Checkout.NOT_STARTED: "not_started",
           Checkout.REQUESTED: "pending", Checkout.RESERVED: "pending",
           Checkout.SHIPPED: "pending", Checkout.COMPLETED: "completed",
           Checkout.FAILED: "failed"}


def checkout_state(shop: Shop, user_id: int, order_id: int) -> CheckoutState:
    """The caller's order's checkout: not started (and why, if it could not), still
    running, completed, or failed and why."""
    with shop.uow() as uow:
        order = uow.orders.get(order_id)
        if order is None or order.user_id != user_id:
            raise NotFound("order", order_id)
        status = _STATES[Checkout(order.checkout) if order.checkout else None]
        reason = order.checkout_reason if status in ("not_started", "failed") else None
        return CheckoutState(order_id, status, reason)


def reserve_stock(shop: Shop, order_id: int) -> dict[str, Any]:
    """The saga's reserve step: the order (being checked out) holds its stock since it was
    placed; the saga takes it. A cancelled or placed order refuses (nothing to undo)."""
    _change(shop, order_id, lambda order, _: order.reserve_for_checkout())
    return {"reservation": str(order_id)}


def _return_stock(order: Order, uow: Any) -> None:
    for line in sorted(order.lines, key=lambda ln: ln.product_id):
        uow.stock.put_stock(line.product_id, line.quantity)


def release_stock(shop: Shop, order_id: int, reason: str | None = None) -> dict[str, Any]:
    """The saga's compensation: the order is cancelled and its stock returned (at most
    once); an order the saga never took is left alone."""

    def change(order: Order, uow: Any) -> tuple[bool, list[int]]:
        released = order.checkout_failed(reason)
        if released:
            _return_stock(order, uow)
            events.order_cancelled(uow, order, "checkout_failed")
        return released, [line.product_id for line in order.lines]

    released, products = _change(shop, order_id, change)
    if released:
        for pid in products:
            shop.invalidation.product_changed(pid)
    return {"released": released}


def fulfil_stock(shop: Shop, order_id: int) -> dict[str, Any]:
    """The parcel left: the order becomes ``fulfilled`` (its stock left with it when it was
    placed). Idempotent: the saga retries it."""
    def change(order: Order, uow: Any) -> None:
        if order.fulfil():  # once, though the saga retries the step
            events.order_paid(uow, order)

    _change(shop, order_id, change)
    return {"fulfilled": True}


def close_checkout(shop: Shop, order_id: int, status: str,
                   reason: str | None = None) -> dict[str, Any]:
    """The saga's last step: record ``completed``, or ``failed`` with the reason (a failed
    saga that still holds the order releases it here). Idempotent."""
    if status == "completed":
        def done(order: Order, uow: Any) -> None:
            paid = order.status == OrderStatus.CHECKING_OUT  # not fulfilled before: now
            order.checkout_completed()
            if paid:
                events.order_paid(uow, order)

        _change(shop, order_id, done)
        return {"closed": True}
    if status != "failed":
        raise StateConflict(f"a checkout closes completed or failed, not {status!r}")
    release_stock(shop, order_id, reason or "the checkout failed")
    return {"closed": True}
