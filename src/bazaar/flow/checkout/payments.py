"""The payment service and the payment-provider simulator it calls (the one fake we need: a
card network cannot run here). The provider keeps its own ledger, keyed by idempotency key:
a retried charge with the same key never charges twice, a refund of nothing is a no-op.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from bazaar.flow.checkout.faults import Faults
from bazaar.flow.errors import FlowError, NonRetryableError
from bazaar.flow.orchestrator.store import Store

provider_metadata = sa.MetaData()
ledger = sa.Table(
    "provider_ledger", provider_metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("charge_id", sa.String(40), nullable=False),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # charged | refunded
    sa.Column("at", sa.Float, nullable=False),
)
#: Every "timed out but charged": the provider kept the money, the caller saw a timeout.
uncertain = sa.Table(
    "provider_uncertain_charges", provider_metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
)
metadata = sa.MetaData()
payments = sa.Table(
    "payments", metadata,
    sa.Column("order_id", sa.String(64), primary_key=True),
    sa.Column("amount_cents", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # charged | refunded
    sa.Column("charge_id", sa.String(40)),
)


class PaymentDeclined(NonRetryableError):
    """The card was declined: final."""


class ProviderTimeout(FlowError):
    """The provider did not answer in time; the card may or may not have been charged."""


class ProviderSimulator:
    """A card network stand-in: latency, declines, timeouts, and "timed out but charged"."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store = store
        self.faults = faults
        self.rng = faults.rng("provider")

    async def charge(self, key: str, amount_cents: int) -> str:
        """Charge ``amount_cents`` under ``key`` (a replay returns the same charge). A
        timeout hides the outcome, even of a replay; with ``charged_on_timeout`` the charge
        is committed first, so the card really is charged when the caller sees the timeout.
        """
        if self.faults.provider_latency_s:
            await asyncio.sleep(self.faults.provider_latency_s)
        timed_out = self.rng.random() < self.faults.timeout_rate
        declined = False
        with self.store.begin() as conn:
            found = conn.execute(sa.select(ledger).where(ledger.c.key == key)).first()
            already = found is not None and found.status == "charged"
            if timed_out:
                if not already and self.rng.random() < self.faults.charged_on_timeout:
                    self._insert(conn, found, key, amount_cents)
                    conn.execute(sa.delete(uncertain).where(uncertain.c.key == key))
                    conn.execute(uncertain.insert().values(key=key, at=time.time()))
            elif already and found is not None:
                return str(found.charge_id)  # idempotent: same key, same charge
            elif self.rng.random() < self.faults.decline_rate:
                declined = True
            else:
                return self._insert(conn, found, key, amount_cents)
        # The provider's own transaction has committed; only now does the caller hear.
        if timed_out:
            raise ProviderTimeout(f"provider timed out for {key}")
        assert declined
        raise PaymentDeclined(f"card declined for {key}")

    def _insert(self, conn: Connection, found: Any, key: str, amount_cents: int) -> str:
        charge_id = uuid.uuid4().hex
        if found is None:
            conn.execute(ledger.insert().values(key=key, charge_id=charge_id,
                                                amount_cents=amount_cents, status="charged",
                                                at=time.time()))
        else:
            conn.execute(ledger.update().where(ledger.c.key == key).values(
                charge_id=charge_id, status="charged", at=time.time()))
        return charge_id

    async def refund(self, key: str) -> bool:
        """Refund the charge under ``key``; False if there was nothing to refund."""
        if self.faults.provider_latency_s:
            await asyncio.sleep(self.faults.provider_latency_s)
        with self.store.begin() as conn:
            done = conn.execute(ledger.update().where(ledger.c.key == key,
                                                      ledger.c.status == "charged")
                                .values(status="refunded", at=time.time()))
        return done.rowcount == 1

    def uncertain_charges(self) -> set[str]:
        """Keys whose charge went through although the caller was told it timed out."""
        with self.store.read() as conn:
            return set(conn.execute(sa.select(uncertain.c.key)).scalars())

    def entries(self) -> dict[str, tuple[str, int]]:
        """Every key the provider ever charged → (charged | refunded, amount)."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(ledger)).all()
        return {r.key: (r.status, r.amount_cents) for r in rows}

    def charged(self) -> dict[str, int]:
        """Keys still charged (not refunded) → amount: what customers actually paid."""
        with self.store.read() as conn:
            rows = conn.execute(sa.select(ledger).where(ledger.c.status == "charged")).all()
        return {r.key: r.amount_cents for r in rows}


def payment_key(order_id: str) -> str:
    return f"order:{order_id}"


class PaymentService:
    """Charges and refunds orders through the provider; its own table records the outcome.

    The provider call comes first (idempotent by key); the record is written afterwards, in
    the caller's transaction if one is given (the choreography's outbox transaction)."""

    def __init__(self, store: Store, provider: ProviderSimulator) -> None:
        self.store = store
        self.provider = provider

    def _status(self, order_id: str) -> Any:
        with self.store.read() as conn:
            return conn.execute(sa.select(payments).where(payments.c.order_id == order_id)
                                ).first()

    async def charge(self, order_id: str, amount_cents: int,
                     conn: Connection | None = None) -> dict[str, Any]:
        row = self._status(order_id)
        if row is not None and row.status == "charged":
            return {"charge_id": row.charge_id, "replayed": True}
        if row is not None:
            raise PaymentDeclined(f"order {order_id} was refunded; not charging again")
        charge_id = await self.provider.charge(payment_key(order_id), amount_cents)
        if conn is None:
            with self.store.begin() as own:
                self._record(own, order_id, amount_cents, charge_id)
        else:
            self._record(conn, order_id, amount_cents, charge_id)
        return {"charge_id": charge_id, "replayed": False}

    def _record(self, conn: Connection, order_id: str, amount_cents: int,
                charge_id: str) -> None:
        moved = conn.execute(payments.update().where(payments.c.order_id == order_id)
                             .values(status="charged", charge_id=charge_id))
        if moved.rowcount == 0:
            conn.execute(payments.insert().values(order_id=order_id, amount_cents=amount_cents,
                                                  status="charged", charge_id=charge_id))

    async def refund(self, order_id: str, conn: Connection | None = None) -> dict[str, Any]:
        """Refund whatever the provider holds for the order, even a charge we never heard of
        (a timeout that charged), and remember it so the order is never charged again."""
        refunded = await self.provider.refund(payment_key(order_id))
        if conn is None:
            with self.store.begin() as own:
                self.mark_refunded(own, order_id)
        else:
            self.mark_refunded(conn, order_id)
        return {"refunded": refunded}

    def mark_refunded(self, conn: Connection, order_id: str) -> None:
        """Record the order as refunded, so it is never charged again."""
        moved = conn.execute(payments.update().where(payments.c.order_id == order_id)
                             .values(status="refunded"))
        if moved.rowcount == 0:
            conn.execute(payments.insert().values(order_id=order_id, amount_cents=0,
                                                  status="refunded", charge_id=None))
