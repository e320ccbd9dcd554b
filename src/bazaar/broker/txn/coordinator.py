"""The transaction coordinator (KIP-98) of a single node: the state machine of every
transactional id, the markers it writes into the partitions, the offsets it commits.

Every state change is logged durably (:class:`TxnStore`) before it is acted on, so a crash
at any point leaves either a transaction still Ongoing (its timeout aborts it) or one in
Prepare{Commit,Abort} (completed again on start: writing a marker twice is harmless, a
second marker closes nothing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from bazaar.broker._errors import ErrorCode, TransactionError, UnknownTopicError
from bazaar.broker._producer_ids import ProducerIds
from bazaar.broker.group_commit import GroupCommit
from bazaar.broker.groups import OffsetStore
from bazaar.broker.log import Log, TopicLogs
from bazaar.broker.txn import store as st
from bazaar.broker.txn.store import TxnRecord, TxnStore

log = logging.getLogger("bazaar.broker")
MAX_EPOCH = 32766
_PREPARING = (st.PREPARE_COMMIT, st.PREPARE_ABORT)


def _now_ms() -> int:
    return int(time.time() * 1000)


class TransactionCoordinator:
    """InitProducerId (with a transactional id), AddPartitionsToTxn, AddOffsetsToTxn,
    TxnOffsetCommit, EndTxn and the timeouts; raises :class:`TransactionError`."""

    def __init__(self, store: TxnStore, topics: TopicLogs, offsets: OffsetStore,
                 group_commit: GroupCommit, producer_ids: ProducerIds,
                 notify: Callable[[], None], *, max_timeout_ms: int = 900_000) -> None:
        self.store = store
        self.topics = topics
        self.offsets = offsets
        self.group_commit = group_commit
        self.producer_ids = producer_ids
        self.notify = notify
        self.max_timeout_ms = max_timeout_ms
        self._busy: set[str] = set()  # ids whose markers are being written
        self.committed = 0
        self.aborted = 0
        self.timed_out = 0

    # --- checks ------------------------------------------------------------------------
    def _current(self, txn_id: str, producer_id: int, epoch: int) -> TxnRecord:
        rec = self.store.records.get(txn_id)
        if rec is None or rec.producer_id != producer_id:
            raise TransactionError(ErrorCode.INVALID_PRODUCER_ID_MAPPING,
                                   f"{txn_id!r} does not map to producer id {producer_id}")
        if epoch != rec.producer_epoch:
            raise TransactionError(ErrorCode.INVALID_PRODUCER_EPOCH,
                                   f"{txn_id!r}: epoch {epoch}, current {rec.producer_epoch}"
                                   " (fenced by a newer producer, or timed out)")
        if txn_id in self._busy or rec.state in _PREPARING:
            raise TransactionError(ErrorCode.CONCURRENT_TRANSACTIONS,
                                   f"{txn_id!r} is completing its transaction")
        return rec

    def check_produce(self, txn_id: str, producer_id: int, epoch: int, topic: str,
                      partition: int) -> int:
        """The error code for a transactional batch to ``topic``/``partition`` (0: ok)."""
        rec = self.store.records.get(txn_id)
        if rec is None or rec.producer_id != producer_id:
            return ErrorCode.INVALID_PRODUCER_ID_MAPPING
        if epoch != rec.producer_epoch:
            return ErrorCode.INVALID_PRODUCER_EPOCH
        if rec.state != st.ONGOING or (topic, partition) not in rec.partitions:
            return ErrorCode.INVALID_TXN_STATE
        return ErrorCode.NONE

    # --- the requests --------------------------------------------------------------------
    async def init_producer_id(self, txn_id: str, timeout_ms: int) -> tuple[int, int]:
        """(producer id, epoch) for ``txn_id``: a new id, or the old one with its epoch
        bumped, which fences the previous producer and aborts its open transaction."""
        if not txn_id:
            raise TransactionError(ErrorCode.INVALID_REQUEST, "empty transactional id")
        if not 0 < timeout_ms <= self.max_timeout_ms:
            raise TransactionError(ErrorCode.INVALID_TRANSACTION_TIMEOUT,
                                   f"transaction timeout {timeout_ms} ms outside "
                                   f"1..{self.max_timeout_ms}")
        rec = self.store.records.get(txn_id)
        if rec is None:
            new = TxnRecord(txn_id, self.producer_ids.allocate(), 0, timeout_ms)
            self.store.write(new)
            return new.producer_id, new.producer_epoch
        if txn_id in self._busy or rec.state in _PREPARING:
            raise TransactionError(ErrorCode.CONCURRENT_TRANSACTIONS,
                                   f"{txn_id!r} is completing its transaction")
        pid, epoch = rec.producer_id, rec.producer_epoch + 1
        if rec.state == st.ONGOING:
            log.info("transactional id %r re-initialised: aborting its open transaction "
                     "(producer %d epoch %d fenced)", txn_id, pid, rec.producer_epoch)
            rec = await self._complete(rec, commit=False, marker_epoch=min(epoch, MAX_EPOCH))
        if epoch > MAX_EPOCH:  # epochs exhausted: a fresh producer id
            pid, epoch = self.producer_ids.allocate(), 0
        new = TxnRecord(txn_id, pid, epoch, timeout_ms, st.EMPTY)
        self.store.write(new)
        return pid, epoch

    def add_partitions(self, txn_id: str, producer_id: int, epoch: int,
                       topics: list[tuple[str, list[int]]]) -> list[tuple[str, list[tuple[
                           int, int]]]]:
        rec = self._current(txn_id, producer_id, epoch)
        missing = {(t, p) for t, parts in topics for p in parts
                   if not self._exists(t, p)}
        if missing:
            return [(t, [(p, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION if (t, p) in missing
                          else ErrorCode.OPERATION_NOT_ATTEMPTED) for p in parts])
                    for t, parts in topics]
        begun = self._begin(rec)
        known = set(begun.partitions)
        added = [(t, p) for t, parts in topics for p in parts if (t, p) not in known]
        if added or begun is not rec:
            self.store.write(replace(begun, partitions=[*begun.partitions,
                                                        *dict.fromkeys(added)]))
        return [(t, [(p, ErrorCode.NONE) for p in parts]) for t, parts in topics]

    def add_offsets(self, txn_id: str, producer_id: int, epoch: int, group: str) -> None:
        if not group:
            raise TransactionError(ErrorCode.INVALID_GROUP_ID, "empty group id")
        rec = self._begin(self._current(txn_id, producer_id, epoch))
        if group not in rec.groups:
            rec = replace(rec, groups=[*rec.groups, group])
        self.store.write(rec)

    def txn_offset_commit(self, txn_id: str, group: str, producer_id: int, epoch: int,
                          entries: list[tuple[str, int, int, str | None]]) -> None:
        """Stage (topic, partition, offset, metadata) for ``group`` until the commit."""
        rec = self._current(txn_id, producer_id, epoch)
        if rec.state != st.ONGOING or group not in rec.groups:
            raise TransactionError(ErrorCode.INVALID_TXN_STATE,
                                   f"{txn_id!r}: TxnOffsetCommit before AddOffsetsToTxn")
        staged = {(g, t, p): (g, t, p, o, m) for g, t, p, o, m in rec.offsets}
        for t, p, o, m in entries:
            staged[(group, t, p)] = (group, t, p, o, m)
        self.store.write(replace(rec, offsets=list(staged.values())))

    async def end_txn(self, txn_id: str, producer_id: int, epoch: int, commit: bool) -> None:
        rec = self._current(txn_id, producer_id, epoch)
        if rec.state == st.ONGOING:
            await self._complete(rec, commit=commit, marker_epoch=rec.producer_epoch)
            return
        done = st.COMPLETE_COMMIT if commit else st.COMPLETE_ABORT
        if rec.state in (done, st.EMPTY):  # a retry of the last EndTxn, or nothing to end
            return
        raise TransactionError(ErrorCode.INVALID_TXN_STATE,
                               f"{txn_id!r}: EndTxn({'commit' if commit else 'abort'}) "
                               f"in state {rec.state}")

    # --- background --------------------------------------------------------------------
    async def expire(self, now_ms: int | None = None) -> int:
        """Abort every transaction open longer than its timeout, bumping the epoch so the
        producer that let it run out is fenced (as Kafka does); how many were aborted."""
        now_ms = _now_ms() if now_ms is None else now_ms
        late = [r for r in self.store.records.values()
                if r.state == st.ONGOING and r.transactional_id not in self._busy
                and now_ms - r.started_ms > r.timeout_ms]
        for rec in late:
            log.warning("transaction of %r (producer %d) open for more than %d ms: aborting",
                        rec.transactional_id, rec.producer_id, rec.timeout_ms)
            await self._complete(rec, commit=False,
                                 marker_epoch=min(rec.producer_epoch + 1, MAX_EPOCH))
            self.timed_out += 1
        return len(late)

    async def recover(self) -> None:
        """Finish what a crash interrupted: transactions logged as Prepare*."""
        for rec in list(self.store.records.values()):
            if rec.state in _PREPARING:
                log.info("completing the %s of %r left by a crash", rec.state,
                         rec.transactional_id)
                await self._complete(rec, commit=rec.state == st.PREPARE_COMMIT,
                                     marker_epoch=rec.producer_epoch)

    # --- internals ---------------------------------------------------------------------
    def _exists(self, topic: str, partition: int) -> bool:
        return topic in self.topics and 0 <= partition < len(self.topics.partitions(topic))

    @staticmethod
    def _begin(rec: TxnRecord) -> TxnRecord:
        if rec.state == st.ONGOING:
            return rec
        return replace(rec, state=st.ONGOING, partitions=[], groups=[], offsets=[],
                       started_ms=_now_ms())

    async def _complete(self, rec: TxnRecord, *, commit: bool, marker_epoch: int) -> TxnRecord:
        prepared = replace(rec, producer_epoch=marker_epoch,
                           state=st.PREPARE_COMMIT if commit else st.PREPARE_ABORT)
        self.store.write(prepared)
        self._busy.add(rec.transactional_id)
        try:
            logs: list[Log] = []
            for topic, partition in prepared.partitions:
                try:
                    lg = self.topics.get(topic, partition)
                except UnknownTopicError:
                    log.warning("transaction of %r: %s-%d was deleted, no marker written",
                                rec.transactional_id, topic, partition)
                    continue
                lg.append_marker(prepared.producer_id, marker_epoch, commit)
                logs.append(lg)
            if logs:
                self.notify()
                await self.group_commit.durable(logs)
            if commit:
                by_group: dict[str, list[tuple[str, int, int, str | None]]] = {}
                for g, t, p, o, m in prepared.offsets:
                    if self._exists(t, p):
                        by_group.setdefault(g, []).append((t, p, o, m))
                for group, entries in by_group.items():
                    self.offsets.commit(group, entries)
        finally:
            self._busy.discard(rec.transactional_id)
        done = replace(prepared, state=st.COMPLETE_COMMIT if commit else st.COMPLETE_ABORT,
                       partitions=[], groups=[], offsets=[])
        self.store.write(done)
        if commit:
            self.committed += 1
        else:
            self.aborted += 1
        return done
