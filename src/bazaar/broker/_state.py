"""Everything a request handler may touch, built once when the broker starts."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from bazaar.broker._config import BrokerConfig
from bazaar.broker._producer_ids import ProducerIds
from bazaar.broker.group_commit import GroupCommit
from bazaar.broker.groups import GroupCoordinator, OffsetStore
from bazaar.broker.log import TopicLogs
from bazaar.broker.metrics import Metrics
from bazaar.broker.txn import TransactionCoordinator, TxnStore


@dataclass
class Client:
    """Who sent a request: for member ids and ``groups describe``."""

    client_id: str
    host: str


@dataclass
class BrokerState:
    config: BrokerConfig
    topics: TopicLogs
    coordinator: GroupCoordinator
    offsets: OffsetStore
    producer_ids: ProducerIds
    txn_store: TxnStore
    metrics: Metrics = field(default_factory=Metrics)
    group_commit: GroupCommit = field(default_factory=GroupCommit)
    port: int = 0
    _appended: asyncio.Event | None = None
    transactions: TransactionCoordinator = field(init=False)

    def __post_init__(self) -> None:
        commit = self.group_commit
        self.metrics.sync_rounds = lambda: (commit.rounds, commit.requests)
        self.transactions = TransactionCoordinator(
            self.txn_store, self.topics, self.offsets, self.group_commit, self.producer_ids,
            self.notify_appended)

    @classmethod
    def open(cls, config: BrokerConfig) -> BrokerState:
        root = config.data_dir
        root.mkdir(parents=True, exist_ok=True)
        return cls(
            config=config,
            topics=TopicLogs(root / "logs", config.log, config.max_partitions),
            coordinator=GroupCoordinator(
                initial_delay_ms=config.group_initial_rebalance_delay_ms,
                min_session_ms=config.group_min_session_timeout_ms,
                max_session_ms=config.group_max_session_timeout_ms),
            offsets=OffsetStore(root / "groups" / "offsets.jsonl", fsync=config.offsets_flush),
            producer_ids=ProducerIds(root / "producer_ids"),
            txn_store=TxnStore(root / "transactions" / "state.jsonl",
                               fsync=config.offsets_flush),
            port=config.port,
        )

    # --- long-poll fetches wait here for produce ----------------------------------------
    def notify_appended(self) -> None:
        if self._appended is not None:
            self._appended.set()
            self._appended = None

    async def wait_appended(self, timeout: float) -> None:
        if self._appended is None:
            self._appended = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), timeout)

    def lag(self) -> Iterator[tuple[str, str, int, int]]:
        """(group, topic, partition, lag) for every committed offset."""
        for group in sorted(self.offsets.groups()):
            for (topic, partition), committed in sorted(self.offsets.for_group(group).items()):
                if topic in self.topics:
                    logs = self.topics.partitions(topic)
                    if partition < len(logs):
                        yield group, topic, partition, max(
                            logs[partition].end_offset - committed.offset, 0)

    def close(self) -> None:
        self.coordinator.close()
        self.topics.close()
        self.offsets.close()
        self.txn_store.close()
