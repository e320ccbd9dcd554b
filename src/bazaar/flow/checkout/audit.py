"""The auditor: reads every service's books and says whether the saga kept its promises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from bazaar.flow.checkout import inventory
from bazaar.flow.checkout.payments import payment_key
from bazaar.flow.checkout.services import Services


@dataclass
class Audit:
    """``ok`` when stock is conserved and nobody paid for nothing."""

    completed: int = 0
    failed: int = 0
    pending: int = 0
    conservation: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(services: Services, initial_stock: Mapping[str, int]) -> Audit:
    """Check: per SKU stock + reserved + shipped == initial; every charged order has a
    shipment; completed orders are shipped and charged; failed ones hold no stock or money
    and say why."""
    report = Audit()
    with services.inventory.read() as conn:
        levels = inventory.levels(conn)
    for sku, start in initial_stock.items():
        s, r, sh = levels.get(sku, (0, 0, 0))
        report.conservation[sku] = (start, s, r, sh)
        if s + r + sh != start:
            report.problems.append(f"{sku}: stock {s} + reserved {r} + shipped {sh} != {start}")
    charged = services.provider.charged()
    shipped = services.shipping.shipped()
    for key in charged:
        order_id = key.removeprefix("order:")
        if order_id not in shipped:
            report.problems.append(f"order {order_id} charged without a shipment or refund")
    for order in services.orders.all():
        oid, status = order["order_id"], order["status"]
        if status == "completed":
            report.completed += 1
            if oid not in shipped or payment_key(oid) not in charged:
                report.problems.append(f"order {oid} completed but not shipped and charged")
        elif status == "failed":
            report.failed += 1
            if not order["reason"]:
                report.problems.append(f"order {oid} failed without a reason")
            if oid in shipped:
                report.problems.append(f"order {oid} failed after it shipped")
        else:
            report.pending += 1
    return report
