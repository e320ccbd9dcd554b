"""ListOffsets (key 2), v1-7: earliest, latest, the first offset at a timestamp, and (v7,
KIP-734) the record with the largest timestamp; v6 is flexible."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from bazaar.broker._errors import ProtocolError
from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 2
VERSIONS = (1, 7)
FLEXIBLE_FROM = 6
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ListOffsetsPartition:
    index: int
    timestamp: int


@dataclass(frozen=True, slots=True)
class ListOffsetsRequest:
    replica_id: int
    isolation_level: int
    topics: list[tuple[str, list[ListOffsetsPartition]]]


@dataclass(slots=True)
class ListOffsetsPartitionResponse:
    index: int
    error_code: int
    timestamp: int = -1
    offset: int = -1
    leader_epoch: int = 0


@dataclass(slots=True)
class ListOffsetsResponse:
    topics: list[tuple[str, list[ListOffsetsPartitionResponse]]] = field(default_factory=list)
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> ListOffsetsRequest:
    replica_id = r.int32()
    isolation = r.int8() if version >= 2 else 0

    flexible = version >= FLEXIBLE_FROM

    def partition(r: Reader) -> ListOffsetsPartition:
        index = r.int32()
        if version >= 4:
            r.int32()  # current leader epoch
        found = ListOffsetsPartition(index, r.int64())
        if flexible:
            r.skip_tags()
        return found

    def compact(item: Callable[[Reader], T]) -> list[T]:
        n = r.uvarint() - 1
        if n > r.remaining():
            raise ProtocolError(f"array of {n} items cannot fit the frame")
        return [item(r) for _ in range(max(n, 0))]

    if not flexible:
        topics = r.array(lambda r: (r.string(), r.array(partition)))
        return ListOffsetsRequest(replica_id, isolation, topics)

    def topic(r: Reader) -> tuple[str, list[ListOffsetsPartition]]:
        name = r.compact_string()
        parts = compact(partition)
        r.skip_tags()
        return name, parts

    flex_topics = compact(topic)
    r.skip_tags()
    return ListOffsetsRequest(replica_id, isolation, flex_topics)


def encode_response(resp: ListOffsetsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 2:
        w.int32(resp.throttle_time_ms)
    if version < FLEXIBLE_FROM:
        w.array_len(len(resp.topics))
        for name, partitions in resp.topics:
            w.string(name).array_len(len(partitions))
            for p in partitions:
                w.int32(p.index).int16(p.error_code).int64(p.timestamp).int64(p.offset)
                if version >= 4:
                    w.int32(p.leader_epoch)
        return w.getvalue()
    w.uvarint(len(resp.topics) + 1)
    for name, partitions in resp.topics:
        w.compact_string(name).uvarint(len(partitions) + 1)
        for p in partitions:
            w.int32(p.index).int16(p.error_code).int64(p.timestamp).int64(p.offset)
            w.int32(p.leader_epoch).empty_tags()
        w.empty_tags()
    return w.empty_tags().getvalue()
