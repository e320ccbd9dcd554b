"""ListOffsets (key 2), v1-5: earliest, latest, or the first offset at a timestamp."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 2
VERSIONS = (1, 5)


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

    def partition(r: Reader) -> ListOffsetsPartition:
        index = r.int32()
        if version >= 4:
            r.int32()  # current leader epoch
        return ListOffsetsPartition(index, r.int64())

    topics = r.array(lambda r: (r.string(), r.array(partition)))
    return ListOffsetsRequest(replica_id, isolation, topics)


def encode_response(resp: ListOffsetsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 2:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for p in partitions:
            w.int32(p.index).int16(p.error_code).int64(p.timestamp).int64(p.offset)
            if version >= 4:
                w.int32(p.leader_epoch)
    return w.getvalue()
