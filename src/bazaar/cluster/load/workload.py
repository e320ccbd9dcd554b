"""The mixed shop workload: what a visitor does, weighted — browse the catalogue, search,
open a product page, look at their orders, and now and then place an order."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

#: (name, weight, method)
MIX: tuple[tuple[str, int, str], ...] = (
    ("browse", 30, "GET"),
    ("search", 15, "GET"),
    ("product", 40, "GET"),
    ("orders", 10, "GET"),
    ("order", 5, "POST"),
)
GET_ONLY: tuple[tuple[str, int, str], ...] = (("product", 1, "GET"),)


@dataclass(frozen=True)
class Request:
    op: str
    method: str
    target: str
    body: bytes = b""


class Workload:
    """Draws requests from ``mix`` over ``product_ids`` (seeded: runs are repeatable)."""

    def __init__(self, product_ids: list[int], mix: tuple[tuple[str, int, str], ...] = MIX,
                 seed: int = 1) -> None:
        if not product_ids:
            raise ValueError("the workload needs at least one product id")
        self.product_ids = product_ids
        self.mix = mix
        self._names = [m[0] for m in mix]
        self._weights = [m[1] for m in mix]
        self._random = random.Random(seed)

    def next(self) -> Request:
        op = self._random.choices(self._names, self._weights)[0]
        pid = self._random.choice(self.product_ids)
        if op == "browse":
            after = self._random.choice([0, *self.product_ids[:5]])
            return Request(op, "GET", f"/products?limit=20&after={after}")
        if op == "search":
            return Request(op, "GET", f"/products?q={self._random.choice(['mug', 'tea', 'a'])}"
                                      "&limit=10")
        if op == "product":
            return Request(op, "GET", f"/products/{pid}")
        if op == "orders":
            return Request(op, "GET", "/orders?limit=10")
        body = json.dumps({"lines": [{"product_id": pid, "quantity": 1}]}).encode()
        return Request(op, "POST", "/orders", body)
