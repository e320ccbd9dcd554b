"""OffsetFetch (key 9), v1-5."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 9
VERSIONS = (1, 5)


@dataclass(frozen=True, slots=True)
class OffsetFetchRequest:
    group_id: str
    topics: list[tuple[str, list[int]]] | None  # None: every committed partition


@dataclass(frozen=True, slots=True)
class FetchedOffset:
    index: int
    offset: int
    metadata: str | None
    error_code: int = 0


@dataclass(frozen=True, slots=True)
class OffsetFetchResponse:
    topics: list[tuple[str, list[FetchedOffset]]]
    error_code: int = 0
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> OffsetFetchRequest:
    group = r.string()
    topics = r.nullable_array(lambda r: (r.string(), r.array(Reader.int32)))
    return OffsetFetchRequest(group, topics)


def encode_response(resp: OffsetFetchResponse, version: int) -> bytes:
    w = Writer()
    if version >= 3:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for p in partitions:
            w.int32(p.index).int64(p.offset)
            if version >= 5:
                w.int32(-1)
            w.nullable_string(p.metadata).int16(p.error_code)
    if version >= 2:
        w.int16(resp.error_code)
    return w.getvalue()
