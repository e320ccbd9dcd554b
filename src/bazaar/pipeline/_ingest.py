"""Ingestion: a Kafka consumer group from Bazaar Log (or any Kafka) into the lake, exactly once.

The Kafka Connect S3 sink's method: records are buffered per log partition, starting at the
offset the lake's manifest says comes next; a buffer is written when it holds ``batch``
records (so rotation is deterministic: the same offsets make the same files after a replay) or
when the partition is caught up; a writer thread decodes it and writes the file (fsync'd,
renamed, the manifest committed) while the next records are read, and only then is the
group's offset committed. A kill -9 anywhere replays from the manifest's offsets, and
orphaned files (written, never committed) are deleted at start.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bazaar.pipeline._errors import IngestError, LakeError
from bazaar.pipeline._events import SHOP_TOPIC, decode_batch
from bazaar.pipeline._lake import Lake

log = logging.getLogger("bazaar.pipeline")
_TRANSIENT_NAMES = ("_TRANSPORT", "_ALL_BROKERS_DOWN", "_TIMED_OUT", "_RESOLVE",
                    "NOT_COORDINATOR", "COORDINATOR_NOT_AVAILABLE",
                    "COORDINATOR_LOAD_IN_PROGRESS")
_last_warning = [0.0]


@functools.cache
def _transient_codes() -> frozenset[int]:
    """librdkafka's codes for "the log is away for now" (it reconnects by itself)."""
    from confluent_kafka import KafkaError

    return frozenset(int(getattr(KafkaError, n)) for n in _TRANSIENT_NAMES
                     if hasattr(KafkaError, n))


def _log_transient(bootstrap: str, what: str) -> None:
    now = time.monotonic()
    if now - _last_warning[0] >= 10:  # once per 10 s, not per poll
        _last_warning[0] = now
        log.warning("the log at %s: %s; waiting for it", bootstrap, what)


@dataclass
class IngestStats:
    """What one run did."""

    records: int = 0
    files: int = 0
    batches: int = 0
    orphans_removed: int = 0
    seconds: float = 0.0
    #: Seconds from the first record received to the last file committed (the group join and
    #: the idle wait at the end left out).
    reading_seconds: float = 0.0
    per_partition: dict[str, int] = field(default_factory=dict)
    #: Seconds spent in each step once records flow: in ``consume`` and committing the
    #: group's offsets (the consumer's thread); decoding and writing the lake (Parquet,
    #: fsync, manifest) in the writer thread, beside them.
    steps: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("consume", "decode", "write", "commit"), 0.0))

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def per_second_reading(self) -> float:
        """Records per second once records flow (group join and start-up left out)."""
        return self.records / self.reading_seconds if self.reading_seconds else 0.0


@dataclass
class _Buffer:
    """One log partition's records since its last file, as the client's message objects (their
    fields are read once per batch, column by column)."""

    messages: list[Any] = field(default_factory=list)


class _Stamps(Sequence[int]):
    """The log's timestamps of a batch, read from a message only when an event has no time of
    its own."""

    def __init__(self, messages: list[Any]) -> None:
        self._messages = messages

    def __len__(self) -> int:
        return len(self._messages)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        ts = self._messages[i].timestamp()[1]
        return ts if ts > 0 else 0


class Ingester:
    """Moves ``topics`` from the log at ``bootstrap`` into ``lake`` as consumer ``group``."""

    def __init__(self, bootstrap: str, lake: Lake, *, topics: Sequence[str] = (SHOP_TOPIC,),
                 group: str = "bazaar-pipeline", batch: int = 100_000,
                 on_batch: Callable[[IngestStats], None] | None = None,
                 session_timeout_ms: int = 10_000, fetch: int = 100_000) -> None:
        if batch < 1:
            raise IngestError("batch must be at least 1 record")
        self.bootstrap, self.lake, self.topics = bootstrap, lake, tuple(topics)
        self.group, self.batch, self.on_batch = group, batch, on_batch
        self.fetch = fetch  # records per consume call
        # A killed ingester holds its partitions until its session expires: short sessions,
        # quick take-overs.
        self.session_timeout_ms = session_timeout_ms
        self._buffers: dict[tuple[str, int], _Buffer] = {}
        self._assigned: set[tuple[str, int]] = set()
        self._at_end: set[tuple[str, int]] = set()
        #: Partitions whose lake is ahead of the group's offset (an ingester killed after the
        #: manifest took a batch, before the group offset was committed): the lake's next
        #: offset is committed for them even when no new record comes.
        self._catch_up: dict[tuple[str, int], int] = {}
        self._consumed = 0.0  # seconds in consume once records flow
        self._last_write: float | None = None
        self._writer: ThreadPoolExecutor | None = None
        self._pending: collections.deque[tuple[tuple[str, int], int, Future[Any]]] = \
            collections.deque()
        self._stats: IngestStats | None = None

    def _consumer(self) -> Any:
        from confluent_kafka import Consumer

        return Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": self.group,
            "enable.auto.commit": False, "auto.offset.reset": "earliest",
            "enable.partition.eof": True, "fetch.max.bytes": 32 << 20,
            "max.partition.fetch.bytes": 16 << 20, "queued.max.messages.kbytes": 262_144,
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(100, self.session_timeout_ms // 5),
            # A topic made after we subscribed (the shop's first event creates shop.events)
            # is seen within seconds, not librdkafka's default five minutes.
            "topic.metadata.refresh.interval.ms": 2_000,
        })

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        for tp in partitions:
            resume = self.lake.next_offset(tp.topic, tp.partition)
            tp.offset = OFFSET_BEGINNING if resume is None else resume
            self._assigned.add((tp.topic, tp.partition))
            if resume is not None:
                self._catch_up[(tp.topic, tp.partition)] = resume
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        if self._stats is not None:  # batches in flight are finished and committed first
            self._reap(consumer, self._stats)
        for tp in partitions:  # not committed: the partition's next owner re-reads it
            key = (tp.topic, tp.partition)
            self._buffers.pop(key, None)
            self._catch_up.pop(key, None)
            self._assigned.discard(key)
            self._at_end.discard(key)

    def _flush(self, consumer: Any, key: tuple[str, int], stats: IngestStats) -> None:
        """Hand ``key``'s buffer to the writer thread (decode, Parquet, manifest), so the next
        records are read meanwhile; its group offset is committed once the lake holds it."""
        buf = self._buffers.pop(key, None)
        if buf is None or not buf.messages:
            return
        topic, partition = key
        messages = buf.messages
        first, last = messages[0].offset(), messages[-1].offset()
        # Offsets only grow within a partition: as many records as the span means every one.
        offsets: Sequence[int] = (range(first, last + 1) if last - first + 1 == len(messages)
                                  else [m.offset() for m in messages])
        values = [m.value() for m in messages]
        assert self._writer is not None
        future = self._writer.submit(self._store, topic, partition, first, last, offsets,
                                     values, _Stamps(messages))
        self._pending.append((key, last, future))
        # One batch written while the next is read; more would only hold memory.
        self._reap(consumer, stats, keep=1)

    def _store(self, topic: str, partition: int, first: int, last: int,
               offsets: Sequence[int], values: list[bytes | None],
               stamps: _Stamps) -> tuple[int, float, float]:
        """The writer thread: one batch into the lake (the manifest commits it)."""
        started = time.perf_counter()
        # The lake orders a batch's rows itself (type, hour, offset): no reordering here.
        table = decode_batch(topic, partition, offsets, values, stamps, in_order=False)
        decoded = time.perf_counter()
        written = self.lake.write_batch(topic, partition, first, last, table)
        return len(written), decoded - started, time.perf_counter() - decoded

    def _reap(self, consumer: Any, stats: IngestStats, *, keep: int = 0) -> None:
        """Commit the group offsets of the written batches, in order, waiting until at most
        ``keep`` are still being written (a writer's error is raised here)."""
        from confluent_kafka import TopicPartition

        while self._pending and (len(self._pending) > keep or self._pending[0][2].done()):
            (topic, partition), last, future = self._pending.popleft()
            files, decode_s, write_s = future.result()
            self._catch_up.pop((topic, partition), None)  # this commit goes past it
            stored = time.perf_counter()
            try:
                consumer.commit(offsets=[TopicPartition(topic, partition, last + 1)],
                                asynchronous=False)
            except Exception as exc:  # the manifest holds it; the group catches up later
                if "UNKNOWN_MEMBER" not in str(exc) and "REBALANCE" not in str(exc):
                    raise IngestError(f"commit {topic}:{partition}: {exc}") from exc
            # Up to the last file: the idle wait at the end is not reading.
            stats.steps["consume"] = self._consumed
            stats.steps["decode"] += decode_s
            stats.steps["write"] += write_s
            stats.steps["commit"] += time.perf_counter() - stored
            self._last_write = time.perf_counter()
            stats.files += files
            stats.batches += 1
            stats.per_partition[f"{topic}:{partition}"] = last + 1
            if self.on_batch:
                self.on_batch(stats)

    def _take(self, consumer: Any, messages: list[Any], stats: IngestStats) -> None:
        """Append records of one log partition to its buffer, writing a file at every
        ``batch`` records (so files are cut at the same offsets after a replay)."""
        key = (messages[0].topic(), messages[0].partition())
        self._at_end.discard(key)
        stats.records += len(messages)
        while messages:
            buf = self._buffers.get(key)
            if buf is None:
                buf = self._buffers[key] = _Buffer()
            room = self.batch - len(buf.messages)
            buf.messages.extend(messages[:room])
            messages = messages[room:]
            if len(buf.messages) >= self.batch:
                self._flush(consumer, key, stats)

    def _runs(self, run: list[Any]) -> list[tuple[int, int]]:
        """Where ``run`` (records, no errors) changes log partition: [start, end) pairs."""
        parts = np.fromiter((m.partition() for m in run), dtype=np.int64, count=len(run))
        change = parts[1:] != parts[:-1]
        if len(self.topics) != 1 or self.topics[0].startswith("^"):  # several topics
            names = [m.topic() for m in run]
            change |= np.fromiter((a != b for a, b in itertools.pairwise(names)),
                                  dtype=np.bool_, count=len(run) - 1)
        cuts = [0, *(np.flatnonzero(change) + 1).tolist(), len(run)]
        return list(itertools.pairwise(cuts))

    def _handle(self, consumer: Any, messages: list[Any], stats: IngestStats) -> None:
        """One ``consume`` result: runs of records of one partition go to :meth:`_take`
        whole; errors and end-of-partition markers in between are handled one by one."""
        from confluent_kafka import KafkaError

        marks = [i for i, m in enumerate(messages) if m.error() is not None]
        lo = 0
        for i in [*marks, len(messages)]:
            if lo < i:
                run = messages[lo:i]
                for a, b in self._runs(run):
                    self._take(consumer, run[a:b], stats)
            lo = i + 1
            if i == len(messages):
                break
            m = messages[i]
            err, key = m.error(), (m.topic(), m.partition())
            if err.code() == KafkaError._PARTITION_EOF:
                self._at_end.add(key)
                self._flush(consumer, key, stats)
            elif err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                continue
            elif err.retriable() or err.code() in _transient_codes():
                # the log is away: librdkafka reconnects; nothing to do but wait
                _log_transient(self.bootstrap, err.str())
            else:
                raise IngestError(f"consume from {self.bootstrap}: {err.str()}")

    def _commit_catch_up(self, consumer: Any) -> None:
        """Commit the lake's next offset for assigned partitions whose group offset lags it
        and that have no batch of their own to commit (kept for the next try while the
        group rebalances)."""
        from confluent_kafka import TopicPartition

        for (topic, partition), offset in list(self._catch_up.items()):
            if any(key == (topic, partition) for key, _, _ in self._pending):
                continue  # that batch's commit will cover it
            try:
                consumer.commit(offsets=[TopicPartition(topic, partition, offset)],
                                asynchronous=False)
            except Exception as exc:
                if "UNKNOWN_MEMBER" not in str(exc) and "REBALANCE" not in str(exc):
                    raise IngestError(f"commit {topic}:{partition}: {exc}") from exc
                continue
            self._catch_up.pop((topic, partition), None)

    def run(self, *, until_idle: bool = False, idle_s: float = 1.0,
            max_seconds: float | None = None, assign_timeout_s: float = 60.0) -> IngestStats:
        """Ingest until stopped (or, with ``until_idle``, until every assigned partition is
        caught up and written). Returns what it did."""
        from confluent_kafka import KafkaException

        stats = self._stats = IngestStats(orphans_removed=self.lake.recover())
        self._consumed, self._last_write = 0.0, None
        started = time.perf_counter()
        consumer = self._consumer()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bazaar-lake")
        try:
            consumer.subscribe(list(self.topics), on_assign=self._on_assign,
                               on_revoke=self._on_revoke)
            quiet_since = time.monotonic()
            first_record: float | None = None
            while True:
                waited = time.perf_counter()
                messages = consumer.consume(num_messages=self.fetch, timeout=0.2)
                got = time.perf_counter()
                if messages:
                    if first_record is None and any(m.error() is None for m in messages):
                        first_record = waited
                    self._handle(consumer, messages, stats)
                    self._reap(consumer, stats, keep=len(self._pending))  # the done ones
                if first_record is not None:  # the group join is not a step of its own
                    self._consumed += got - waited
                now = time.monotonic()
                if messages:
                    quiet_since = now
                else:
                    self._reap(consumer, stats)  # nothing read: the writes' commits
                if not messages and now - quiet_since >= idle_s:
                    for key in list(self._buffers):
                        self._flush(consumer, key, stats)
                    self._reap(consumer, stats)
                    self._commit_catch_up(consumer)
                    done = (self._assigned and self._assigned <= self._at_end
                            and not self._catch_up)
                    if until_idle and (done or (not self._assigned
                                                and now - quiet_since > assign_timeout_s)):
                        break
                if max_seconds is not None and time.perf_counter() - started > max_seconds:
                    for key in list(self._buffers):
                        self._flush(consumer, key, stats)
                    self._reap(consumer, stats)
                    self._commit_catch_up(consumer)
                    break
        except KafkaException as exc:
            raise IngestError(f"the log at {self.bootstrap}: {exc}") from exc
        except LakeError:
            raise
        finally:
            self._writer.shutdown(wait=True)  # a batch in flight ends (or fails) first
            self._pending.clear()  # not committed: the manifest says where to resume
            self._stats = None
            stats.seconds = time.perf_counter() - started
            if first_record is not None and self._last_write is not None:
                stats.reading_seconds = self._last_write - first_record
            consumer.close()
        return stats
