"""Orders: several lines, placed all-or-nothing, cancelled at most once."""

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
    CANCELLED = "cancelled"
    FULFILLED = "fulfilled"  # checked out and shipped: past the saga's pivot, final


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

    @property
    def total_cents(self) -> int:
        return sum(line.quantity * line.unit_price_cents for line in self.lines)

    def cancel(self) -> None:
        """Mark cancelled; the caller returns the stock in the same transaction."""
        if self.status == OrderStatus.CANCELLED:
            raise StateConflict(f"order {self.id} is already cancelled")
        if self.status == OrderStatus.FULFILLED:
            raise StateConflict(f"order {self.id} is fulfilled: it has shipped")
        self.status = OrderStatus.CANCELLED

    def fulfil(self) -> bool:
        """Mark fulfilled (its stock has shipped); True if this call changed it. Idempotent,
        because the saga retries this step until it is done."""
        if self.status == OrderStatus.FULFILLED:
            return False
        if self.status == OrderStatus.CANCELLED:
            raise StateConflict(f"order {self.id} is cancelled; nothing to fulfil")
        self.status = OrderStatus.FULFILLED
        return True
