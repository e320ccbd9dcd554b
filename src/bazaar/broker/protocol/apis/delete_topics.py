"""DeleteTopics (key 20), v0-3."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 20
VERSIONS = (0, 3)


@dataclass(frozen=True, slots=True)
class DeleteTopicsRequest:
    names: list[str]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class DeleteTopicsResponse:
    topics: list[tuple[str, int]]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DeleteTopicsRequest:
    return DeleteTopicsRequest(r.array(Reader.string), r.int32())


def encode_response(resp: DeleteTopicsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, code in resp.topics:
        w.string(name).int16(code)
    return w.getvalue()
