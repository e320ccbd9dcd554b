"""The auditor: reads every service's books and says whether the saga kept its promises."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from bazaar.flow.checkout import inventory
from bazaar.flow.checkout.payments import payment_key
from bazaar.flow.checkout.services import Services


@dataclass
class Audit:
    """``ok`` when stock is conserved and nobody paid for nothing."""

    completed: int = 0
    failed: int = 0
    pending: int = 0
    #: "timed out but charged" charges the provider made, and how many were refunded
    uncertain: int = 0
    uncertain_refunded: int = 0
    conservation: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def audit(services: Services, initial_stock: Mapping[str, int]) -> Audit:
    """Check: per SKU stock + reserved + shipped == initial; every charged order has a
    shipment; a completed order was charged exactly its amount, once, and shipped; a failed
    one holds no money (the ledger nets to zero), did not ship, and says why; and once
    nothing is pending, nothing stays reserved."""
    report = Audit()
    with services.inventory.read() as conn:
        levels = inventory.levels(conn)
        held = conn.execute(sa.select(inventory.reservations.c.order_id).where(
            inventory.reservations.c.status == "reserved")).scalars().all()
    for sku, start in initial_stock.items():
        s, r, sh = levels.get(sku, (0, 0, 0))
        report.conservation[sku] = (start, s, r, sh)
        if s + r + sh != start:
            report.problems.append(f"{sku}: stock {s} + reserved {r} + shipped {sh} != {start}")
    entries = services.provider.entries()
    uncertain = services.provider.uncertain_charges()
    report.uncertain = len(uncertain)
    report.uncertain_refunded = sum(1 for key in uncertain
                                    if entries.get(key, ("", 0))[0] == "refunded")
    shipped = services.shipping.shipped()
    for key, (status, _) in entries.items():
        order_id = key.removeprefix("order:")
        if status == "charged" and order_id not in shipped:
            report.problems.append(f"order {order_id} charged without a shipment or refund")
    for order in services.orders.all():
        oid, status = order["order_id"], order["status"]
        paid = entries.get(payment_key(oid))
        if status == "completed":
            report.completed += 1
            if oid not in shipped or paid != ("charged", order["amount_cents"]):
                report.problems.append(f"order {oid} completed but not shipped and charged "
                                       f"exactly once (ledger: {paid})")
        elif status == "failed":
            report.failed += 1
            if not order["reason"]:
                report.problems.append(f"order {oid} failed without a reason")
            if oid in shipped:
                report.problems.append(f"order {oid} failed after it shipped")
            if paid is not None and paid[0] != "refunded":
                report.problems.append(f"order {oid} failed but its charge stands")
        else:
            report.pending += 1
    if report.pending == 0:
        for sku, (_, _, reserved, _) in report.conservation.items():
            if reserved:
                report.problems.append(f"nothing is pending but {reserved} {sku} stay reserved")
        if held:
            report.problems.append(f"nothing is pending but orders {sorted(held)[:5]} still "
                                   "hold reservations")
    return report
