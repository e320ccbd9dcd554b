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
from bazaar.broker.security import AclStore, Authorizer, CredentialStore, SaslSession
from bazaar.broker.txn import TransactionCoordinator, TxnStore

ANONYMOUS = "User:ANONYMOUS"


@dataclass
class Client:
    """Who sent a request: for member ids, ``groups describe`` and the authorizer.

    ``sasl`` is the connection's SASL exchange (None on a listener without SASL);
    ``close_after`` asks the connection shell to close once this request is answered.
    """

    client_id: str
    host: str
    principal: str = ANONYMOUS
    sasl: SaslSession | None = None
    close_after: bool = False


class AuthFailures:
    """The rate limit on failed logins: each failure from a host is answered ``delay_s``
    late, one at a time per host, so one host guesses at most 1/delay passwords a second
    however many connections it opens. Logged once per host per ``log_every_s``."""

    def __init__(self, delay_s: float, log_every_s: float = 10.0) -> None:
        self.delay_s = delay_s
        self.log_every_s = log_every_s
        self.total = 0
        self._locks: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # host -> lock, waiting
        self._logged: dict[str, tuple[float, int]] = {}  # host -> (last logged, unlogged)

    async def penalize(self, host: str) -> None:
        self.total += 1
        lock, waiting = self._locks.setdefault(host, (asyncio.Lock(), [0]))
        waiting[0] += 1
        try:
            async with lock:
                await asyncio.sleep(self.delay_s)
        finally:
            waiting[0] -= 1
            if not waiting[0]:
                self._locks.pop(host, None)

    def should_log(self, host: str, now: float) -> int | None:
        """None to stay quiet, else how many failures went unlogged before this one."""
        last, unlogged = self._logged.get(host, (-1e9, 0))
        if now - last < self.log_every_s:
            self._logged[host] = (last, unlogged + 1)
            return None
        self._logged[host] = (now, 0)
        if len(self._logged) > 10_000:  # forget the oldest hosts: bounded memory
            for old in sorted(self._logged, key=lambda h: self._logged[h][0])[:5_000]:
                del self._logged[old]
        return unlogged


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
    credentials: CredentialStore | None = None
    authorizer: Authorizer = field(default_factory=lambda: Authorizer(None))
    auth_failures: AuthFailures = field(default_factory=lambda: AuthFailures(0.1))
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
            credentials=CredentialStore.under(root) if config.sasl_mechanisms else None,
            authorizer=Authorizer(AclStore.under(root) if config.sasl_mechanisms else None,
                                  config.super_users),
            auth_failures=AuthFailures(config.auth_failure_delay_ms / 1000),
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
