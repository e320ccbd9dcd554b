"""Transactions (KIP-98): the coordinator's state machine and its durable log."""

from bazaar.broker.txn.coordinator import TransactionCoordinator
from bazaar.broker.txn.store import TxnRecord, TxnStore

__all__ = ["TransactionCoordinator", "TxnRecord", "TxnStore"]
