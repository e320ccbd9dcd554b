"""Transactions below the protocol: a partition's open/aborted transactions, its last stable
offset and markers, across segment rolls and restarts; the coordinator's state machine on a
real log directory, with the bad inputs a client (or a zombie) may send. Also DeleteRecords'
start offset, which shares the log's bookkeeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bazaar.broker import LogConfig
from bazaar.broker._errors import (
    CorruptRecordError,
    ErrorCode,
    OffsetOutOfRangeError,
    ProducerFencedError,
    SequenceError,
    TransactionError,
)
from bazaar.broker._producer_ids import ProducerIds
from bazaar.broker.group_commit import GroupCommit
from bazaar.broker.groups import OffsetStore
from bazaar.broker.log import Log, TopicLogs
from bazaar.broker.log import batch as rb
from bazaar.broker.txn import TransactionCoordinator, TxnStore

TINY = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_ms=None,
                 retention_ms=None)


def txn_batch(values: list[bytes], pid: int, epoch: int, seq: int) -> bytes:
    return rb.build([(None, v) for v in values], producer_id=pid, producer_epoch=epoch,
                    base_sequence=seq, attributes=rb.TRANSACTIONAL)


def marker(log: Log, pid: int, epoch: int, *, commit: bool) -> int:
    """A marker, as the coordinator writes it: appended, then synced (made visible)."""
    offset = log.append_marker(pid, epoch, commit)
    log.synced(log.end_offset)
    return offset


def test_last_stable_offset_and_aborted_index(tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    log.append(rb.build([(None, b"plain")]))
    first = log.append(txn_batch([b"a", b"b"], pid=7, epoch=0, seq=0)).base_offset
    assert first == 1 and log.last_stable_offset == 1
    log.append(rb.build([(None, b"after")]))  # past the stable offset
    assert log.last_stable_offset == 1 and log.end_offset == 4
    assert log.read(1, 10_000, upto=log.last_stable_offset) is None
    abort_at = marker(log, 7, 0, commit=False)
    assert log.last_stable_offset == log.end_offset == abort_at + 1
    assert [(t.producer_id, t.first_offset, t.last_offset)
            for t in log.aborted_between(0, log.end_offset)] == [(7, 1, abort_at)]
    assert log.aborted_between(abort_at + 1, log.end_offset) == []
    log.append(txn_batch([b"c"], pid=7, epoch=0, seq=2))
    marker(log, 7, 0, commit=True)  # committed: not in the aborted index
    assert len(log.aborted_between(0, log.end_offset)) == 1
    # the read for read_committed stops at the first open transaction's batch
    log.append(txn_batch([b"open"], pid=8, epoch=0, seq=0))
    got = log.read(0, 1_000_000, upto=log.last_stable_offset)
    assert got is not None
    data = log.read_bytes(0, 1_000_000)[:got.size]
    assert [v for _o, _k, v in rb.read_records(data)][-1] != b"open"


def test_transaction_state_survives_restart_across_segment_rolls(tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    log.append(txn_batch([b"x" * 50], pid=1, epoch=0, seq=0))
    marker(log, 1, 0, commit=False)
    open_at = log.append(txn_batch([b"y" * 50], pid=2, epoch=0, seq=0)).base_offset
    seq = 1
    while len(log.segments) < 4:  # the open transaction's start is in a sealed segment
        log.append(txn_batch([b"z" * 100], pid=2, epoch=0, seq=seq))
        seq += 1
    before = (log.last_stable_offset, log.aborted_between(0, log.end_offset))
    log.close()
    again = Log(tmp_path / "t-0", TINY)
    assert (again.last_stable_offset, again.aborted_between(0, again.end_offset)) == before
    assert again.last_stable_offset == open_at
    marker(again, 2, 0, commit=True)
    assert again.last_stable_offset == again.end_offset
    again.close()


def test_clients_cannot_write_control_batches(tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    forged = rb.control_batch(producer_id=3, producer_epoch=0, commit=True, timestamp_ms=1)
    with pytest.raises(CorruptRecordError):
        log.append(forged)
    assert log.end_offset == 0


def test_marker_fences_older_epochs_and_restarts_the_sequence(tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    log.append(txn_batch([b"a"], pid=5, epoch=0, seq=0))
    marker(log, 5, 1, commit=False)  # the coordinator bumped the epoch (a new producer)
    with pytest.raises(ProducerFencedError):
        log.append(txn_batch([b"zombie"], pid=5, epoch=0, seq=1))
    with pytest.raises(SequenceError):  # out of order in the new epoch
        log.append(txn_batch([b"b"], pid=5, epoch=1, seq=3))
    log.append(txn_batch([b"b"], pid=5, epoch=1, seq=0))


# --- the coordinator --------------------------------------------------------------------

Run = Callable[[TransactionCoordinator, TopicLogs, OffsetStore], Awaitable[None]]


async def _with_coordinator(tmp_path: Path, body: Run, **kw: int) -> None:
    topics = TopicLogs(tmp_path / "logs", TINY)
    if "t" not in topics:
        topics.create("t", 2)
    offsets = OffsetStore(tmp_path / "offsets.jsonl")
    commit = GroupCommit()
    flusher = asyncio.create_task(commit.run())
    store = TxnStore(tmp_path / "txn" / "state.jsonl")
    coordinator = TransactionCoordinator(store, topics, offsets, commit,
                                         ProducerIds(tmp_path / "pids"), lambda: None, **kw)
    try:
        await body(coordinator, topics, offsets)
    finally:
        flusher.cancel()
        store.close()
        offsets.close()
        topics.close()


def test_commit_applies_staged_offsets_and_writes_markers(tmp_path: Path) -> None:
    async def body(c: TransactionCoordinator, topics: TopicLogs, offsets: OffsetStore) -> None:
        pid, epoch = await c.init_producer_id("app", 60_000)
        assert c.add_partitions("app", pid, epoch, [("t", [0, 1])]) == [
            ("t", [(0, 0), (1, 0)])]
        topics.get("t", 0).append(txn_batch([b"v"], pid, epoch, 0))
        c.add_offsets("app", pid, epoch, "g")
        c.txn_offset_commit("app", "g", pid, epoch, [("t", 1, 42, None)])
        assert offsets.get("g", "t", 1) is None  # staged, not visible before the commit
        await c.end_txn("app", pid, epoch, commit=True)
        assert offsets.get("g", "t", 1) is not None
        assert topics.get("t", 0).last_stable_offset == topics.get("t", 0).end_offset == 2
        assert topics.get("t", 1).end_offset == 1  # a marker in every partition added
        await c.end_txn("app", pid, epoch, commit=True)  # a retried EndTxn is answered ok
        with pytest.raises(TransactionError) as err:
            await c.end_txn("app", pid, epoch, commit=False)
        assert err.value.code == ErrorCode.INVALID_TXN_STATE

    asyncio.run(_with_coordinator(tmp_path, body))


def test_bad_requests_get_their_error_codes(tmp_path: Path) -> None:
    async def body(c: TransactionCoordinator, topics: TopicLogs, offsets: OffsetStore) -> None:
        for timeout in (0, -1, 10**9):
            with pytest.raises(TransactionError) as err:
                await c.init_producer_id("app", timeout)
            assert err.value.code == ErrorCode.INVALID_TRANSACTION_TIMEOUT
        pid, epoch = await c.init_producer_id("app", 60_000)
        with pytest.raises(TransactionError) as err:
            c.add_partitions("app", pid + 1, epoch, [("t", [0])])
        assert err.value.code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
        with pytest.raises(TransactionError) as err:
            c.add_partitions("nobody", pid, epoch, [("t", [0])])
        assert err.value.code == ErrorCode.INVALID_PRODUCER_ID_MAPPING
        with pytest.raises(TransactionError) as err:
            c.add_partitions("app", pid, epoch + 5, [("t", [0])])
        assert err.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
        assert c.add_partitions("app", pid, epoch, [("t", [0, 9]), ("gone", [0])]) == [
            ("t", [(0, ErrorCode.OPERATION_NOT_ATTEMPTED),
                   (9, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)]),
            ("gone", [(0, ErrorCode.UNKNOWN_TOPIC_OR_PARTITION)])]
        with pytest.raises(TransactionError) as err:  # offsets without AddOffsetsToTxn
            c.txn_offset_commit("app", "g", pid, epoch, [("t", 0, 1, None)])
        assert err.value.code == ErrorCode.INVALID_TXN_STATE
        assert c.check_produce("app", pid, epoch, "t", 1) == ErrorCode.INVALID_TXN_STATE

    asyncio.run(_with_coordinator(tmp_path, body))


def test_a_transaction_touching_a_deleted_topic_still_ends(tmp_path: Path) -> None:
    async def body(c: TransactionCoordinator, topics: TopicLogs, offsets: OffsetStore) -> None:
        topics.create("doomed", 1)
        pid, epoch = await c.init_producer_id("app", 60_000)
        c.add_partitions("app", pid, epoch, [("t", [0]), ("doomed", [0])])
        topics.delete("doomed")
        await c.end_txn("app", pid, epoch, commit=False)
        assert topics.get("t", 0).end_offset == 1  # its marker written; the rest skipped

    asyncio.run(_with_coordinator(tmp_path, body))


def test_reinit_fences_and_aborts_timeout_aborts_and_state_is_durable(tmp_path: Path) -> None:
    async def first(c: TransactionCoordinator, topics: TopicLogs, offsets: OffsetStore) -> None:
        pid, epoch = await c.init_producer_id("app", 60_000)
        c.add_partitions("app", pid, epoch, [("t", [0])])
        topics.get("t", 0).append(txn_batch([b"zombie"], pid, epoch, 0))
        pid2, epoch2 = await c.init_producer_id("app", 60_000)
        assert (pid2, epoch2) == (pid, epoch + 1)
        assert topics.get("t", 0).aborted_between(0, 10)[0].first_offset == 0
        assert c.check_produce("app", pid, epoch, "t", 0) == ErrorCode.INVALID_PRODUCER_EPOCH
        c.add_partitions("app", pid2, epoch2, [("t", [1])])
        assert await c.expire() == 0
        assert await c.expire(now_ms=2**62) == 1  # way past its timeout
        assert topics.get("t", 1).end_offset == 1
        with pytest.raises(TransactionError) as err:  # the timed-out producer is fenced
            await c.end_txn("app", pid2, epoch2, commit=True)
        assert err.value.code == ErrorCode.INVALID_PRODUCER_EPOCH
        c.add_partitions("app", pid2, epoch2 + 1, [("t", [0])])  # open at the "crash"

    async def second(c: TransactionCoordinator, topics: TopicLogs,
                     offsets: OffsetStore) -> None:
        rec = c.store.records["app"]
        assert (rec.state, rec.partitions) == ("Ongoing", [("t", 0)])
        _pid, epoch = await c.init_producer_id("app", 60_000)
        assert epoch == rec.producer_epoch + 1

    asyncio.run(_with_coordinator(tmp_path, first))
    asyncio.run(_with_coordinator(tmp_path, second))


def test_records_awaiting_a_sync_stay_above_the_high_watermark(tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    log.append(rb.build([(None, b"page-cache")]))  # acks=1, flush=os: visible at once
    assert log.high_watermark == 1
    log.append(rb.build([(None, b"acks-all")]), await_sync=True)
    log.append(rb.build([(None, b"acks-1 behind it")]))  # waits behind the unsynced one
    assert (log.high_watermark, log.end_offset) == (1, 3)
    assert log.read(1, 10_000, upto=log.high_watermark) is None
    log.synced(2)  # a sync that began before the third append: covers the second only
    assert log.high_watermark == 3  # nothing else waits: the acks=1 record shows too
    log.append(rb.build([(None, b"a")]), await_sync=True)
    end_at_sync = log.end_offset
    log.append(rb.build([(None, b"b")]), await_sync=True)  # arrives during that sync
    log.synced(end_at_sync)
    assert log.high_watermark == end_at_sync < log.end_offset
    log.synced(log.end_offset)
    assert log.high_watermark == log.end_offset


def test_delete_records_moves_the_start_durably_and_retention_drops_whole_segments(
        tmp_path: Path) -> None:
    log = Log(tmp_path / "t-0", TINY)
    for i in range(40):
        log.append(rb.build([(None, b"v" * 60 + bytes([i]))]))
    segments = len(log.segments)
    assert log.delete_records(25) == 25
    assert log.delete_records(3) == 25  # never backwards
    with pytest.raises(OffsetOutOfRangeError):
        log.read(10, 1000)
    with pytest.raises(OffsetOutOfRangeError):
        log.delete_records(log.high_watermark + 1)
    assert log.enforce_retention() > 0 and len(log.segments) < segments
    assert log.start_offset == 25
    log.close()
    again = Log(tmp_path / "t-0", TINY)
    assert again.start_offset == 25 and again.end_offset == 40
    again.close()
