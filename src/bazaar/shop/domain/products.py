"""Products: a SKU with a price and a stock count that never goes below zero."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bazaar.shop.domain.errors import InvalidInput, SoldOut

SKU_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9-]{1,31}$")
MAX_QUANTITY = 1000
MAX_STOCK = 1_000_000_000
MAX_PRICE_CENTS = 100_000_000


def check_quantity(quantity: int, field: str = "quantity") -> int:
    """A positive line quantity, at most :data:`MAX_QUANTITY`."""
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput(field, "must be an integer")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise InvalidInput(field, f"must be between 1 and {MAX_QUANTITY}")
    return quantity


@dataclass(eq=False)
class Product:
    """A product and its stock. Mapped by the SQL adapter, which adds a ``version`` column
    that is checked and bumped on every write (optimistic locking)."""

    sku: str
    name: str
    price_cents: int
    stock: int
    id: int | None = None

    def reserve(self, quantity: int) -> None:
        """Take ``quantity`` units, or raise :class:`SoldOut` and change nothing."""
        check_quantity(quantity)
        if quantity > self.stock:
            raise SoldOut("product", self.id if self.id is not None else self.sku,
                          quantity, self.stock)
        self.stock -= quantity

    def restock(self, quantity: int) -> None:
        """Add units: a delivery, or stock given back by a cancelled order."""
        if isinstance(quantity, bool) or not 1 <= quantity <= MAX_STOCK - self.stock:
            raise InvalidInput("quantity", f"must be between 1 and {MAX_STOCK - self.stock}")
        self.stock += quantity


def new_product(sku: str, name: str, price_cents: int, stock: int) -> Product:
    """A validated new product (no id until stored)."""
    if not SKU_PATTERN.match(sku):
        raise InvalidInput("sku", "must be 2-32 characters of A-Z, 0-9 and '-', "
                                  "starting with a letter or digit")
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name", "must be 1-200 characters")
    if not 0 <= price_cents <= MAX_PRICE_CENTS:
        raise InvalidInput("price_cents", f"must be between 0 and {MAX_PRICE_CENTS}")
    if not 0 <= stock <= MAX_STOCK:
        raise InvalidInput("stock", f"must be between 0 and {MAX_STOCK}")
    return Product(sku=sku, name=name, price_cents=price_cents, stock=stock)
