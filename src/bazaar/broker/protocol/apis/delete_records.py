"""DeleteRecords (key 21), v0-1: move partitions' log start offsets forward."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 21
VERSIONS = (0, 1)


@dataclass(frozen=True, slots=True)
class DeleteRecordsRequest:
    topics: list[tuple[str, list[tuple[int, int]]]]  # name, [(partition, offset)]
    timeout_ms: int


@dataclass(frozen=True, slots=True)
class DeleteRecordsResponse:
    topics: list[tuple[str, list[tuple[int, int, int]]]]  # name, [(partition, low, error)]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DeleteRecordsRequest:
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.int32(), r.int64()))))
    return DeleteRecordsRequest(topics, r.int32())


def encode_response(resp: DeleteRecordsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for index, low, code in partitions:
            w.int32(index).int64(low).int16(code)
    return w.getvalue()
