"""What every resolver gets: the shop, the caller, the checkout starter, and this request's
DataLoaders (new per request, so a batch never crosses callers)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import anyio.to_thread
from strawberry.dataloader import DataLoader

from bazaar.api.principal import Principal, require, require_user
from bazaar.shop.domain import NotFound
from bazaar.shop.services import ProductView, Shop, catalog
from bazaar.shop.services.checkout import CheckoutStarter


def product_loader(shop: Shop) -> DataLoader[int, ProductView]:
    """Every product a response's lines name, in one query."""

    async def load(ids: list[int]) -> Sequence[ProductView | BaseException]:
        found = await anyio.to_thread.run_sync(catalog.products_by_id, shop, ids)
        return [found.get(i) or NotFound("product", i) for i in ids]

    return DataLoader(load_fn=load, max_batch_size=catalog.MAX_BATCH)


@dataclass
class ShopContext:
    shop: Shop
    principal: Principal | None
    starter: CheckoutStarter | None
    products: DataLoader[int, ProductView] = field(init=False)

    def __post_init__(self) -> None:
        self.products = product_loader(self.shop)

    def caller(self, scope: str | None) -> Principal:
        return require(self.principal, scope)

    def user(self, scope: str | None) -> int:
        return require_user(self.principal, scope)
