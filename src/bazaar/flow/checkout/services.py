"""The checkout saga's services, each on its own database, opened together or one by one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bazaar.flow.checkout import fulfilment, inventory, payments
from bazaar.flow.checkout.faults import NONE, Faults
from bazaar.flow.checkout.fulfilment import NotificationService, OrderBook, ShippingService
from bazaar.flow.checkout.payments import PaymentService, ProviderSimulator
from bazaar.flow.choreography import outbox
from bazaar.flow.orchestrator.store import Store


@dataclass(frozen=True)
class Databases:
    """One SQLAlchemy URL per service (and one for the provider simulator's ledger)."""

    inventory: str
    payments: str
    provider: str
    shipping: str
    notifications: str
    orders: str

    @classmethod
    def under(cls, directory: Path) -> Databases:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(**{name: f"sqlite:///{directory / f'{name}.db'}" for name in
                      ("inventory", "payments", "provider", "shipping", "notifications",
                       "orders")})


def _open(url: str, *metadatas: sa.MetaData) -> Store:
    store = Store(url)
    # each service database also holds the choreography's outbox and dedupe table
    for metadata in (*metadatas, outbox.metadata):
        metadata.create_all(store.engine)
    return store


@dataclass
class Services:
    """Every service of the saga. Each process opens only what it serves, but the tests,
    the lab and the auditor open them all."""

    inventory: Store
    payments: PaymentService
    provider: ProviderSimulator
    shipping: ShippingService
    notifications: NotificationService
    orders: OrderBook

    @classmethod
    def open(cls, dbs: Databases, faults: Faults = NONE) -> Services:
        provider = ProviderSimulator(_open(dbs.provider, payments.provider_metadata), faults)
        return cls(
            inventory=_open(dbs.inventory, inventory.metadata),
            payments=PaymentService(_open(dbs.payments, payments.metadata), provider),
            provider=provider,
            shipping=ShippingService(_open(dbs.shipping, fulfilment.shipping_metadata), faults),
            notifications=NotificationService(_open(dbs.notifications,
                                                    fulfilment.notify_metadata), faults),
            orders=OrderBook(_open(dbs.orders, fulfilment.orders_metadata)),
        )

    def stores(self) -> dict[str, Store]:
        return {"inventory": self.inventory, "payments": self.payments.store,
                "shipping": self.shipping.store, "notifications": self.notifications.store,
                "orders": self.orders.store}

    def close(self) -> None:
        for store in (*self.stores().values(), self.provider.store):
            store.close()
