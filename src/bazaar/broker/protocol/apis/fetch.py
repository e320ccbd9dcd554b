"""Fetch (key 1), v4-11. The response is a list of parts: encoded bytes, and the file ranges
of record data in between, which the server sends with ``sendfile`` (never read into Python).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.log.segment import FileRange
from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 1
VERSIONS = (4, 11)

Part = bytes | FileRange


@dataclass(slots=True)
class FetchPartition:
    index: int
    current_leader_epoch: int
    fetch_offset: int
    log_start_offset: int
    max_bytes: int


@dataclass(slots=True)
class FetchTopic:
    name: str
    partitions: list[FetchPartition]


@dataclass(slots=True)
class FetchRequest:
    replica_id: int
    max_wait_ms: int
    min_bytes: int
    max_bytes: int
    isolation_level: int
    session_id: int
    session_epoch: int
    topics: list[FetchTopic]
    rack_id: str = ""


@dataclass(slots=True)
class FetchPartitionResponse:
    index: int
    error_code: int
    high_watermark: int
    log_start_offset: int
    records: FileRange | bytes | None = None
    last_stable_offset: int = -1
    aborted: list[tuple[int, int]] | None = None  # (producer id, first offset), read_committed

    @property
    def records_size(self) -> int:
        if self.records is None:
            return 0
        if isinstance(self.records, FileRange):
            return self.records.size
        return len(self.records)


@dataclass(slots=True)
class FetchTopicResponse:
    name: str
    partitions: list[FetchPartitionResponse] = field(default_factory=list)


@dataclass(slots=True)
class FetchResponse:
    topics: list[FetchTopicResponse]
    error_code: int = 0
    session_id: int = 0
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> FetchRequest:
    replica_id, max_wait, min_bytes, max_bytes = r.int32(), r.int32(), r.int32(), r.int32()
    isolation = r.int8()
    session_id, session_epoch = (r.int32(), r.int32()) if version >= 7 else (0, -1)

    def partition(r: Reader) -> FetchPartition:
        index = r.int32()
        epoch = r.int32() if version >= 9 else -1
        offset = r.int64()
        log_start = r.int64() if version >= 5 else -1
        return FetchPartition(index, epoch, offset, log_start, r.int32())

    topics = r.array(lambda r: FetchTopic(r.string(), r.array(partition)))
    if version >= 7:
        r.array(lambda r: (r.string(), r.array(Reader.int32)))  # forgotten topics: no sessions
    rack = r.string() if version >= 11 else ""
    return FetchRequest(replica_id, max_wait, min_bytes, max_bytes, isolation, session_id,
                        session_epoch, topics, rack)


def encode_response(resp: FetchResponse, version: int) -> list[Part]:
    """The body as parts; consecutive bytes are joined so the server writes few chunks."""
    parts: list[Part] = []
    w = Writer().int32(resp.throttle_time_ms)
    if version >= 7:
        w.int16(resp.error_code).int32(resp.session_id)
    w.array_len(len(resp.topics))
    for topic in resp.topics:
        w.string(topic.name).array_len(len(topic.partitions))
        for p in topic.partitions:
            w.int32(p.index).int16(p.error_code).int64(p.high_watermark)
            w.int64(p.last_stable_offset if p.last_stable_offset >= 0 else p.high_watermark)
            if version >= 5:
                w.int64(p.log_start_offset)
            if p.aborted is None:
                w.array_len(-1)  # read_uncommitted: null, as Kafka sends
            else:
                w.array_len(len(p.aborted))
                for pid, first in p.aborted:
                    w.int64(pid).int64(first)
            if version >= 11:
                w.int32(-1)
            records = p.records
            if records is None:
                w.int32(-1)
            elif isinstance(records, FileRange):
                w.int32(records.size)
                parts.append(w.getvalue())
                parts.append(records)
                w = Writer()
            else:
                w.bytes_(records)
    tail = w.getvalue()
    if tail:
        parts.append(tail)
    return parts


def parts_size(parts: list[Part]) -> int:
    return sum(p.size if isinstance(p, FileRange) else len(p) for p in parts)
