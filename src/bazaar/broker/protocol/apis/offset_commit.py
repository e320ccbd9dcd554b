"""OffsetCommit (key 8), v2-7."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 8
VERSIONS = (2, 7)


@dataclass(frozen=True, slots=True)
class CommitPartition:
    index: int
    offset: int
    metadata: str | None


@dataclass(frozen=True, slots=True)
class OffsetCommitRequest:
    group_id: str
    generation_id: int
    member_id: str
    topics: list[tuple[str, list[CommitPartition]]]


@dataclass(frozen=True, slots=True)
class OffsetCommitResponse:
    topics: list[tuple[str, list[tuple[int, int]]]]  # name, [(partition, error)]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> OffsetCommitRequest:
    group, generation, member = r.string(), r.int32(), r.string()
    if version >= 7:
        r.nullable_string()  # group instance id
    if version <= 4:
        r.int64()  # retention time: we keep offsets until the group is deleted

    def partition(r: Reader) -> CommitPartition:
        index, offset = r.int32(), r.int64()
        if version >= 6:
            r.int32()  # committed leader epoch
        return CommitPartition(index, offset, r.nullable_string())

    return OffsetCommitRequest(group, generation, member,
                               r.array(lambda r: (r.string(), r.array(partition))))


def encode_response(resp: OffsetCommitResponse, version: int) -> bytes:
    w = Writer()
    if version >= 3:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for index, code in partitions:
            w.int32(index).int16(code)
    return w.getvalue()
