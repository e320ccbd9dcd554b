"""Orders: several lines, placed all-or-nothing, cancelled at most once.

An order's life: ``placed`` → (cancel) ``cancelled``, or ``placed`` → (check out)
``checking_out`` → ``fulfilled`` (the saga shipped it) or ``cancelled`` (the saga failed and
returned the stock). While ``checking_out`` the checkout saga owns the order: a customer's
cancel is refused (``reason: checking_out``), so a checkout and a cancel can never both win.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from bazaar.shop.domain.errors import InvalidInput, StateConflict
from bazaar.shop.domain.products import MAX_QUANTITY, check_quantity

MAX_LINES = 50


@dataclass(frozen=True)
class LineRequest:
    """What a customer asks for: ``quantity`` of product ``product_id``."""

    product_id: int
    quantity: int


def normalise_lines(lines: Iterable[LineRequest]) -> list[LineRequest]:
    """Validate and merge duplicate products; sorted by product id.

    The sort matters: every transaction takes row locks in the same order, so two orders
    touching the same products can never deadlock each other.
    """
    merged: dict[int, int] = {}
    for i, line in enumerate(lines):
        if isinstance(line.product_id, bool) or line.product_id < 1:
            raise InvalidInput(f"lines.{i}.product_id", "must be a positive id")
        check_quantity(line.quantity, f"lines.{i}.quantity")
        merged[line.product_id] = merged.get(line.product_id, 0) + line.quantity
        if merged[line.product_id] > MAX_QUANTITY:
            raise InvalidInput(f"lines.{i}.quantity",
                               f"at most {MAX_QUANTITY} of one product per order")
    if not merged:
        raise InvalidInput("lines", "an order needs at least one line")
    if len(merged) > MAX_LINES:
        raise InvalidInput("lines", f"at most {MAX_LINES} different products per order")
    return [LineRequest(pid, qty) for pid, qty in sorted(merged.items())]


class OrderStatus(StrEnum):
    PLACED = "placed"
    CHECKING_OUT = "checking_out"  # a checkout saga owns it: only the saga moves it on
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"  # checked out and shipped: past the saga's pivot, final


class Checkout(StrEnum):
    """How far the order's checkout saga got (``Order.checkout``; None: never started)."""

    REQUESTED = "requested"      # the shop asked for the saga; it may not have run yet
    NOT_STARTED = "not_started"  # the request certainly never reached the saga
    RESERVED = "reserved"        # the saga took the order: it can no longer be undone here
    SHIPPED = "shipped"          # past the pivot
    COMPLETED = "completed"
    FAILED = "failed"            # compensated: stock returned, money refunded


@dataclass(eq=False)
class OrderLine:
    product_id: int
    quantity: int
    unit_price_cents: int
    id: int | None = None


@dataclass(eq=False)
class Order:
    """A placed order; its lines' stock was reserved in the same transaction."""

    user_id: int
    lines: list[OrderLine] = field(default_factory=list)
    status: str = OrderStatus.PLACED
    id: int | None = None
    checkout: str | None = None
    checkout_reason: str | None = None

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)

    def _conflict(self, what: str) -> StateConflict:
        return StateConflict(f"order {self.id} is {self.status}; {what}",
                             reason=str(self.status))

    def cancel(self) -> None:
        """The customer cancels; the caller returns the stock in the same transaction.
        Only a placed order: one being checked out belongs to its saga."""
        if self.status == OrderStatus.CANCELLED:
            raise StateConflict(f"order {self.id} is already cancelled", reason="cancelled")
        if self.status == OrderStatus.FULFILLED:
            raise StateConflict(f"order {self.id} is fulfilled: it has shipped",
                                reason="fulfilled")
        if self.status == OrderStatus.CHECKING_OUT:
            raise StateConflict(f"order {self.id} is being checked out, so it can no longer "
                                "be cancelled (a checkout that fails cancels it and returns "
                                "the stock)", reason="checking_out")
        self.status = OrderStatus.CANCELLED

    def begin_checkout(self) -> bool:
        """placed → checking_out (the saga is requested); True if this call changed it.
        An order already being checked out is announced again (idempotent)."""
        if self.status == OrderStatus.CHECKING_OUT:
            return False
        if self.status != OrderStatus.PLACED:
            raise self._conflict("only a placed order checks out")
        self.status = OrderStatus.CHECKING_OUT
        self.checkout, self.checkout_reason = Checkout.REQUESTED, None
        return True

    def checkout_not_started(self, reason: str) -> bool:
        """The request certainly never reached the saga: checking_out → placed, unless the
        saga already took the order (a concurrent request did reach it). True if undone."""
        if self.status != OrderStatus.CHECKING_OUT or self.checkout != Checkout.REQUESTED:
            return False
        self.status = OrderStatus.PLACED
        self.checkout, self.checkout_reason = Checkout.NOT_STARTED, reason
        return True

    def reserve_for_checkout(self) -> None:
        """The saga's first step takes the order; from here only the saga ends it."""
        if self.status != OrderStatus.CHECKING_OUT:
            raise self._conflict("it is not being checked out")
        if self.checkout == Checkout.REQUESTED:
            self.checkout = Checkout.RESERVED

    def checkout_failed(self, reason: str | None = None) -> bool:
        """The saga's compensation: checking_out → cancelled; True if this call changed the
        status (the caller then returns the stock in the same transaction). The saga's
        close step calls it again with the reason, which marks the checkout failed.
        Idempotent. An order the saga never took (its customer cancelled it first, or the
        start never reached the saga) is left as it is."""
        changed = False
        if self.status == OrderStatus.CHECKING_OUT:
            self.status, changed = OrderStatus.CANCELLED, True
        elif self.status == OrderStatus.FULFILLED:
            raise self._conflict("it has shipped; its checkout cannot fail now")
        elif self.checkout in (None, Checkout.NOT_STARTED):
            return False
        if reason is not None:
            self.checkout, self.checkout_reason = Checkout.FAILED, reason
        return changed

    def fulfil(self) -> bool:
        """The saga shipped it: checking_out → fulfilled; True if this call changed it.
        Idempotent, because the saga retries this step until it is done."""
        if self.status == OrderStatus.FULFILLED:
            return False
        if self.status != OrderStatus.CHECKING_OUT:
            raise self._conflict("only an order being checked out is fulfilled")
        self.status = OrderStatus.FULFILLED
        self.checkout = Checkout.SHIPPED
        return True

    def checkout_completed(self) -> None:
        """The saga's last step: the customer was told; the checkout is done."""
        if self.status == OrderStatus.CHECKING_OUT:
            self.fulfil()
        if self.status != OrderStatus.FULFILLED:
            raise self._conflict("its checkout cannot complete")
        self.checkout = Checkout.COMPLETED
