"""The checkout saga's services, each on its own database, opened together or one by one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bazaar.flow.checkout.faults import NONE, Faults
from bazaar.flow.checkout.fulfilment import NotificationService, OrderBook, ShippingService
from bazaar.flow.checkout.payments import PaymentService, ProviderSimulator
from bazaar.flow.choreography import outbox
from bazaar.flow.orchestrator.store import Store
from bazaar.storage import Migrations


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


def migrations(service: str) -> Migrations:
    """The migrations of one service's own tables (``inventory``, ``payments``,
    ``provider``, ``shipping``, ``notifications``, ``orders``)."""
    return Migrations(f"bazaar.flow.checkout.migrations.{service}",
                      version_table=f"checkout_{service}_alembic_version")


def _open(url: str, service: str) -> Store:
    store = Store(url)
    # each service database also holds the choreography's outbox and dedupe table
    store.migrate(migrations(service), outbox.MIGRATIONS)
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
        provider = ProviderSimulator(_open(dbs.provider, "provider"), faults)
        return cls(
            inventory=_open(dbs.inventory, "inventory"),
            payments=PaymentService(_open(dbs.payments, "payments"), provider),
            provider=provider,
            shipping=ShippingService(_open(dbs.shipping, "shipping"), faults),
            notifications=NotificationService(_open(dbs.notifications, "notifications"),
                                              faults),
            orders=OrderBook(_open(dbs.orders, "orders")),
        )

    def stores(self) -> dict[str, Store]:
        return {"inventory": self.inventory, "payments": self.payments.store,
                "shipping": self.shipping.store, "notifications": self.notifications.store,
                "orders": self.orders.store}

    def close(self) -> None:
        for store in (*self.stores().values(), self.provider.store):
            store.close()
