"""The log, layer by layer, with tiny limits so every test crosses segment roll-overs."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bazaar.broker import LogConfig
from bazaar.broker._errors import (
    CorruptRecordError,
    OffsetOutOfRangeError,
    ProducerFencedError,
    SequenceError,
    UnsupportedFormatError,
)
from bazaar.broker.log import EARLIEST, LATEST, Log, TopicLogs
from bazaar.broker.log import batch as rb
from bazaar.broker.log.index import OffsetIndex
from bazaar.broker.log.store import Store

TINY = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_ms=None,
                 retention_ms=None)


def make_batch(values: list[bytes], ts: int = 1000, **kw: int) -> bytes:
    return rb.build([(None, v) for v in values], timestamp_ms=ts, **kw)


def read_all(log: Log, start: int = 0) -> list[tuple[int, bytes | None]]:
    out: list[tuple[int, bytes | None]] = []
    offset = start
    while offset < log.end_offset:
        data = log.read_bytes(offset, 300)
        assert data, f"no data at {offset} < {log.end_offset}"
        records = [(o, v) for o, _k, v in rb.read_records(data) if o >= offset]
        out.extend(records)
        offset = records[-1][0] + 1
    return out


def test_batch_layout_matches_kafka_header_fields() -> None:
    data = make_batch([b"a", b"bc"], ts=42, producer_id=7, producer_epoch=1, base_sequence=3)
    assert len(data) >= rb.HEADER_SIZE
    header = rb.parse_header(data)
    assert header.length == len(data)
    assert (header.last_offset_delta, header.records_count) == (1, 2)
    assert (header.producer_id, header.producer_epoch, header.base_sequence) == (7, 1, 3)
    assert header.max_timestamp == 42
    assert data[16] == 2  # magic
    assert rb.validate(data) == [header]


def test_base_offset_lies_outside_the_crc() -> None:
    data = bytearray(make_batch([b"x"]))
    data[0:8] = struct.pack(">q", 12345)
    data[12:16] = struct.pack(">i", 9)  # partitionLeaderEpoch: also outside
    assert rb.check_crc(data)
    data[-1] ^= 0x01
    assert not rb.check_crc(data)
    with pytest.raises(CorruptRecordError):
        rb.validate(data)


@pytest.mark.parametrize("bad", [b"", b"\x00" * 10, b"\xff" * 70])
def test_garbage_records_are_refused(bad: bytes) -> None:
    with pytest.raises(CorruptRecordError):
        rb.validate(bad)


def test_old_message_format_is_refused() -> None:
    old = bytearray(make_batch([b"x"]))
    old[16] = 1
    with pytest.raises(UnsupportedFormatError):
        rb.validate(old)


def test_store_appends_and_reads_by_position(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.log")
    assert store.append([b"abc", memoryview(b"defg")]) == 0
    assert store.append([b"hi"]) == 7
    assert store.read(2, 4) == b"cdef"
    store.close()
    again = Store(tmp_path / "s.log")
    assert again.size == 9
    again.close()


def test_offset_index_floor_lookup_and_reload(tmp_path: Path) -> None:
    index = OffsetIndex(tmp_path / "i.index", 100)
    for rel, pos in [(0, 0), (5, 400), (9, 900)]:
        index.append(100 + rel, pos)
    assert index.lookup(99) == (100, 0)
    assert index.lookup(104) == (100, 0)
    assert index.lookup(105) == (105, 400)
    assert index.lookup(10**9) == (109, 900)
    index.close()
    loaded = OffsetIndex(tmp_path / "i.index", 100)
    assert loaded.load(segment_size=1000)
    assert loaded.lookup(106) == (105, 400)
    loaded.close()
    broken = OffsetIndex(tmp_path / "i.index", 100)
    assert not broken.load(segment_size=500)  # points past the segment: rebuilt instead
    broken.close()


def test_log_rolls_segments_and_reads_across_them(tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    for i in range(40):
        result = log.append(make_batch([f"m{i}".encode() * 10]))
        assert result.base_offset == i
    assert len(log.segments) > 3
    assert [v for _o, v in read_all(log)] == [f"m{i}".encode() * 10 for i in range(40)]
    assert log.read(log.end_offset, 100) is None
    with pytest.raises(OffsetOutOfRangeError):
        log.read(41, 100)
    log.close()


def test_read_from_the_middle_of_a_batch_returns_that_batch(tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    log.append(make_batch([b"a", b"b", b"c"]))
    log.append(make_batch([b"d"]))
    data = log.read_bytes(1, 10)  # smaller than one batch: still one whole batch
    assert [o for o, _k, _v in rb.read_records(data)] == [0, 1, 2]
    log.close()


def test_torn_tail_is_truncated_on_restart(tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    for i in range(5):
        log.append(make_batch([bytes([i]) * 50]))
    path = log.active.store.path
    good = log.active.size
    log.close()
    with path.open("ab") as f:
        f.write(make_batch([b"torn" * 20])[:40])
    again = Log(tmp_path / "p", TINY)
    assert again.active.size == good
    assert [c.reason for c in again.recovery] == ["torn batch header"]
    assert again.end_offset == 5
    assert again.append(make_batch([b"next"])).base_offset == 5
    again.close()


def test_flipped_byte_is_detected_truncated_in_active_and_reported_in_sealed(
        tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    for i in range(30):
        log.append(make_batch([bytes([65 + i % 26]) * 60]))
    sealed = log.segments[0].store.path
    active = log.active.store.path
    end = log.end_offset
    log.close()
    for path in (sealed, active):
        with path.open("r+b") as f:
            f.seek(rb.HEADER_SIZE + 20)
            byte = f.read(1)
            f.seek(rb.HEADER_SIZE + 20)
            f.write(bytes([byte[0] ^ 0xFF]))
    again = Log(tmp_path / "p", TINY)
    assert [c.reason for c in again.recovery] == ["CRC32C mismatch"]
    assert again.end_offset < end  # the active segment was cut at the bad batch
    assert again.active.size == 0
    problems = again.verify()
    assert [(p.path, p.reason) for p in problems] == [(sealed, "CRC32C mismatch")]
    again.close()


def test_retention_by_size_drops_oldest_segments(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_ms=None,
                       retention_ms=None, retention_bytes=2048)
    log = Log(tmp_path / "p", config)
    for i in range(60):
        log.append(make_batch([bytes([i]) * 80]))
    assert log.enforce_retention() > 0
    assert log.size - log.segments[0].size < 2048
    assert log.start_offset > 0
    assert read_all(log, log.start_offset)[0][0] == log.start_offset
    with pytest.raises(OffsetOutOfRangeError):
        log.read(0, 100)
    log.close()


def test_retention_by_age_and_offsets_by_time(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1024, index_interval_bytes=100, segment_ms=None,
                       retention_ms=10_000)
    log = Log(tmp_path / "p", config)
    for i in range(30):
        log.append(make_batch([bytes([i]) * 80], ts=1_000 * (i + 1)))
    assert log.offset_for(EARLIEST) == 0
    assert log.offset_for(LATEST) == 30
    assert log.offset_for(15_000) == 14
    assert log.offset_for(10**12) == 30
    log.enforce_retention(now_ms=31_000)
    assert log.start_offset > 0
    assert log.start_offset <= 20
    log.close()


def test_idempotent_retry_is_not_written_twice(tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    first = make_batch([b"a", b"b"], producer_id=1, producer_epoch=0, base_sequence=0)
    second = make_batch([b"c"], producer_id=1, producer_epoch=0, base_sequence=2)
    assert log.append(first).base_offset == 0
    assert log.append(second).base_offset == 2
    retry = log.append(first)
    assert (retry.base_offset, retry.duplicate) == (0, True)
    assert log.end_offset == 3
    with pytest.raises(SequenceError):
        log.append(make_batch([b"gap"], producer_id=1, producer_epoch=0, base_sequence=9))
    assert log.end_offset == 3  # the refused batch left no trace
    log.close()
    again = Log(tmp_path / "p", TINY)  # sequence state rebuilt from the batch headers
    assert again.append(second).duplicate
    assert again.append(make_batch([b"d"], producer_id=1, producer_epoch=1,
                                   base_sequence=0)).base_offset == 3
    with pytest.raises(ProducerFencedError):
        again.append(make_batch([b"old"], producer_id=1, producer_epoch=0, base_sequence=3))
    assert again.end_offset == 4
    again.close()


def test_topics_create_reopen_delete(tmp_path: Path) -> None:
    topics = TopicLogs(tmp_path, TINY)
    topics.create("orders", 3)
    topics.get("orders", 2).append(make_batch([b"x"]))
    topics.close()
    again = TopicLogs(tmp_path, TINY)
    assert again.names() == ["orders"]
    assert len(again.partitions("orders")) == 3
    assert again.get("orders", 2).end_offset == 1
    again.delete("orders")
    assert again.names() == []
    assert not any(tmp_path.iterdir())
    again.close()


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "x" * 250, "sp ace"])
def test_bad_topic_names_are_refused_and_nothing_is_created(tmp_path: Path, name: str) -> None:
    from bazaar.broker._errors import InvalidTopicError

    topics = TopicLogs(tmp_path, TINY)
    with pytest.raises(InvalidTopicError):
        topics.create(name, 1)
    assert list(tmp_path.iterdir()) == []


values = st.lists(st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=5),
                  min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=values, restart_every=st.integers(min_value=1, max_value=10))
def test_offsets_dense_and_reads_exact_across_rolls_and_restarts(
        tmp_path_factory: pytest.TempPathFactory, batches: list[list[bytes]],
        restart_every: int) -> None:
    directory = tmp_path_factory.mktemp("prop")
    log = Log(directory, TINY)
    expected: list[bytes] = []
    for i, values_ in enumerate(batches):
        result = log.append(make_batch(values_))
        assert result.base_offset == len(expected)  # dense, increasing
        expected.extend(values_)
        assert log.end_offset == len(expected)
        if (i + 1) % restart_every == 0:
            log.close()
            log = Log(directory, TINY)
            assert log.recovery == []
    got = read_all(log)
    assert [o for o, _v in got] == list(range(len(expected)))
    assert [v for _o, v in got] == expected
    for start in {0, len(expected) // 2, len(expected) - 1}:
        assert read_all(log, start)[0][0] == start
    log.close()
    assert not [p for p in os.listdir(directory) if p.endswith(".tmp")]


def test_segment_alone_ranges_are_whole_batches_within_max_bytes(tmp_path: Path) -> None:
    from bazaar.broker.log import Segment

    segment = Segment(tmp_path, 100, index_interval_bytes=150)
    sizes = []
    for i in range(10):
        data = make_batch([bytes([i]) * 40])
        headers = rb.validate(data)
        segment.append(memoryview(data), headers, 100 + i)
        sizes.append(len(data))
    assert segment.next_offset == 110
    assert segment.find_batch(99 + 1) == (0, 100)
    assert segment.find_batch(105) == (sum(sizes[:5]), 105)
    assert segment.find_batch(110) is None
    whole = segment.range_from(0, 10**6)
    assert whole.size == segment.size
    some = segment.range_from(0, sizes[0] * 3 + 5)
    assert some.size == sizes[0] * 3  # stops at a batch boundary
    tiny = segment.range_from(sizes[0], 1)
    assert tiny.size == sizes[1]  # never less than one whole batch
    raw = segment.store.read(some.position, some.size)
    assert [o for o, _k, _v in rb.read_records(raw)] == [100, 101, 102]
    segment.close()
    reopened = Segment(tmp_path, 100, index_interval_bytes=150)
    reopened.open_sealed()
    assert reopened.next_offset == 110
    assert reopened.find_batch(107) == (sum(sizes[:7]), 107)
    reopened.close()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=20),
       retries=st.lists(st.integers(min_value=0, max_value=4), max_size=30))
def test_retried_batches_never_duplicate(tmp_path_factory: pytest.TempPathFactory,
                                         sizes: list[int], retries: list[int]) -> None:
    """A producer sends its batches in order, retrying any of its last five at random:
    every record is in the log exactly once, in order, and retries get their first offset."""
    log = Log(tmp_path_factory.mktemp("idem"), TINY)
    sent: list[tuple[bytes, int]] = []
    seq = 0
    retry_iter = iter(retries)
    for i, size in enumerate(sizes):
        values = [f"{i}.{j}".encode() for j in range(size)]
        data = make_batch(values, producer_id=5, producer_epoch=0, base_sequence=seq)
        result = log.append(data)
        assert not result.duplicate
        sent.append((data, result.base_offset))
        seq += size
        back = next(retry_iter, None)
        if back is not None and back < len(sent):
            old, offset = sent[-1 - back]
            again = log.append(old)
            assert again.duplicate and again.base_offset == offset
    expected = [f"{i}.{j}".encode() for i, size in enumerate(sizes) for j in range(size)]
    assert [v for _o, v in read_all(log)] == expected
    log.close()


def test_flush_syncs_bytes_appended_while_another_flush_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With --flush batch two producers can append while one's fdatasync is in flight; the
    second flush must not be skipped as if its bytes were already synced."""
    store = Store(tmp_path / "s.log")
    store.append([b"first"])
    synced: list[int] = []
    real = os.fdatasync

    def slow_sync(fd: int) -> None:
        synced.append(fd)
        if len(synced) == 1:
            store.append([b"second"])  # lands while the first sync is running
        real(fd)

    monkeypatch.setattr(os, "fdatasync", slow_sync)
    store.flush()  # syncs "first" (and maybe "second")
    store.flush()  # must sync again: "second" came after the first flush began
    assert len(synced) == 2
    store.flush()  # nothing new: no third sync
    assert len(synced) == 2
    store.close()


def test_producer_state_survives_restart_across_segment_rolls(tmp_path: Path) -> None:
    """A retry of a batch written before the active segment began is still recognised after a
    restart: the producers' state is snapshotted when a segment rolls."""
    log = Log(tmp_path / "p", TINY)
    first = make_batch([b"a" * 300], producer_id=9, producer_epoch=0, base_sequence=0)
    assert log.append(first).base_offset == 0
    for seq in range(1, 12):  # other producers fill segments past the first one
        log.append(make_batch([b"b" * 300], producer_id=10, producer_epoch=0,
                              base_sequence=seq - 1))
    assert log.active.base_offset > 0
    log.close()
    again = Log(tmp_path / "p", TINY)
    retry = again.append(first)
    assert retry.duplicate and retry.base_offset == 0
    with pytest.raises(SequenceError):
        again.append(make_batch([b"gap"], producer_id=9, producer_epoch=0, base_sequence=5))
    again.close()


def test_segments_roll_by_age_and_time_lookups_survive_restart(tmp_path: Path) -> None:
    config = LogConfig(segment_bytes=1 << 20, index_interval_bytes=100, segment_ms=60_000,
                       retention_ms=None)
    log = Log(tmp_path / "p", config)
    for i in range(5):
        log.append(make_batch([b"x" * 50], ts=1_000 * (i + 1)))
    log.active.created_ms -= 61_000  # the active segment is now older than segment_ms
    log.append(make_batch([b"y" * 50], ts=6_000))
    assert [s.base_offset for s in log.segments] == [0, 5]
    for i in range(6, 10):
        log.append(make_batch([b"z" * 50], ts=1_000 * (i + 1)))
    log.close()
    again = Log(tmp_path / "p", config)
    assert [again.offset_for(ts) for ts in (500, 3_000, 6_000, 9_500, 99_999)] == [
        0, 2, 5, 9, 10]
    again.close()


ROOMY = LogConfig(segment_bytes=1 << 20, index_interval_bytes=100, segment_ms=None,
                  retention_ms=None)


def _bad_magic() -> bytes:
    raw = bytearray(make_batch([b"late"], base_offset=5))
    raw[rb.MAGIC_OFFSET] = 1  # outside the CRC: only the header check can catch it
    return bytes(raw)


def _bad_length() -> bytes:
    raw = bytearray(make_batch([b"late"], base_offset=5))
    raw[8:12] = struct.pack(">i", 10)  # shorter than a batch header
    return bytes(raw)


@pytest.mark.parametrize(("tail", "reason"), [
    (make_batch([b"torn" * 20], base_offset=5)[:30], "torn batch header"),
    (make_batch([b"torn" * 20], base_offset=5)[:rb.HEADER_SIZE + 5],
     "torn batch (file ends inside it)"),
    (_bad_magic(), "bad batch header"),
    (_bad_length(), "bad batch header"),
    (make_batch([b"again"], base_offset=2), "offsets go backwards"),
    # a bad batch followed by a good one: recovery keeps the prefix before the first bad one
    (_bad_magic() + make_batch([b"after"], base_offset=5), "bad batch header"),
    (make_batch([b"again"], base_offset=4) + make_batch([b"after"], base_offset=5),
     "offsets go backwards"),
])
def test_recovery_keeps_the_good_prefix_and_accepts_appends(tmp_path: Path, tail: bytes,
                                                             reason: str) -> None:
    log = Log(tmp_path / "p", ROOMY)
    for i in range(5):
        log.append(make_batch([f"v{i}".encode()]))
    path, good = log.active.store.path, log.active.size
    log.close()
    with path.open("ab") as f:
        f.write(tail)
    again = Log(tmp_path / "p", ROOMY)
    assert [(c.position, c.reason) for c in again.recovery] == [(good, reason)]
    assert path.stat().st_size == good, "the file was cut at the first bad batch"
    assert (again.start_offset, again.end_offset) == (0, 5)
    assert read_all(again) == [(i, f"v{i}".encode()) for i in range(5)]
    assert again.append(make_batch([b"next"])).base_offset == 5
    again.close()
    third = Log(tmp_path / "p", ROOMY)  # and the repaired log reopens clean
    assert third.recovery == []
    assert read_all(third)[-1] == (5, b"next")
    third.close()


def test_a_sealed_segment_with_an_implausible_index_is_rebuilt(tmp_path: Path) -> None:
    log = Log(tmp_path / "p", TINY)
    for i in range(30):
        log.append(make_batch([bytes([65 + i % 26]) * 60]))
    sealed = log.segments[0]
    index_path, sealed_end = sealed.index.path, log.segments[1].base_offset
    log.close()
    with index_path.open("ab") as f:  # an entry pointing far past the segment's end
        f.write(struct.pack(">II", 1, 10**6))
    again = Log(tmp_path / "p", TINY)
    assert again.segments[0].next_offset == sealed_end
    assert [v for _o, v in read_all(again)] == [bytes([65 + i % 26]) * 60 for i in range(30)]
    assert again.append(make_batch([b"next"])).base_offset == 30
    assert os.path.getsize(index_path) % 8 == 0
    again.close()


def test_a_failed_write_is_cut_back_refused_and_the_log_carries_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Disk full halfway through a write: the partial bytes are cut off, the append is a
    retriable KAFKA_STORAGE_ERROR, and the next append lands where the failed one would have."""
    import errno

    from bazaar.broker._errors import StorageError

    log = Log(tmp_path / "p", ROOMY)
    for i in range(3):
        log.append(make_batch([f"v{i}".encode()]))
    size = log.active.size
    real = os.writev

    def half_then_enospc(fd: int, parts: list[bytes]) -> int:
        os.write(fd, bytes(parts[0]))  # some bytes reach the file first
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "writev", half_then_enospc)
    with pytest.raises(StorageError) as refused:
        log.append(make_batch([b"lost"]))
    assert refused.value.code == 56 and refused.value.retriable
    assert os.path.getsize(log.active.store.path) == size == log.active.size
    assert log.end_offset == 3 and log.failed is None  # cut back cleanly: still writable
    monkeypatch.setattr(os, "writev", real)
    assert log.append(make_batch([b"v3"])).base_offset == 3
    log.close()
    again = Log(tmp_path / "p", ROOMY)
    assert again.recovery == []
    assert read_all(again) == [(i, f"v{i}".encode()) for i in range(4)]
    again.close()


def test_a_fetch_answers_at_most_fetch_max_bytes_and_waits_at_most_the_request_timeout(
        tmp_path: Path) -> None:
    import asyncio

    from bazaar.broker import BrokerConfig
    from bazaar.broker._state import BrokerState, Client
    from bazaar.broker.handlers import consume
    from bazaar.broker.protocol.apis import fetch as api

    config = BrokerConfig(data_dir=tmp_path, fetch_max_bytes=4096, zero_copy=False,
                          request_timeout_ms=50)
    state = BrokerState.open(config)
    try:
        state.topics.create("big", 1)
        log = state.topics.get("big", 0)
        for i in range(100):
            log.append(make_batch([bytes([i % 256]) * 200]))
        greedy = api.FetchRequest(-1, 10**9, 10**9, 2**31 - 1, 0, 0, -1, [api.FetchTopic(
            "big", [api.FetchPartition(0, -1, 0, 0, 2**31 - 1)])])
        # min_bytes can never be met and max_wait is 11 days: the clamp ends the long poll
        response = asyncio.run(asyncio.wait_for(
            consume.fetch(state, greedy, Client("c", "h"), 4), 30))
        records = response.topics[0].partitions[0].records
        assert isinstance(records, bytes) and 0 < len(records) <= 4096
        assert len(records) < log.size  # the log held far more than the cap
    finally:
        state.close()
