"""OffsetDelete (key 47), v0: drop a group's committed offsets for some partitions."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 47
VERSIONS = (0, 0)


@dataclass(frozen=True, slots=True)
class OffsetDeleteRequest:
    group_id: str
    topics: list[tuple[str, list[int]]]


@dataclass(frozen=True, slots=True)
class OffsetDeleteResponse:
    error_code: int
    topics: list[tuple[str, list[tuple[int, int]]]]  # name, [(partition, error)]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> OffsetDeleteRequest:
    return OffsetDeleteRequest(r.string(),
                               r.array(lambda r: (r.string(), r.array(Reader.int32))))


def encode_response(resp: OffsetDeleteResponse, version: int) -> bytes:
    w = Writer().int16(resp.error_code).int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for index, code in partitions:
            w.int32(index).int16(code)
    return w.getvalue()
