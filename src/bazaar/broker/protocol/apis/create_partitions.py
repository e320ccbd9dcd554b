"""CreatePartitions (key 37), v0-1: grow a topic to a new partition count."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 37
VERSIONS = (0, 1)


@dataclass(frozen=True, slots=True)
class CreatePartitionsTopic:
    name: str
    count: int


@dataclass(frozen=True, slots=True)
class CreatePartitionsRequest:
    topics: list[CreatePartitionsTopic]
    timeout_ms: int
    validate_only: bool


@dataclass(frozen=True, slots=True)
class CreatePartitionsResponse:
    results: list[tuple[str, int, str | None]]  # name, error, message
    throttle_time_ms: int = 0


def _topic(r: Reader) -> CreatePartitionsTopic:
    name, count = r.string(), r.int32()
    r.nullable_array(lambda r: r.array(Reader.int32))  # replica assignments: one node
    return CreatePartitionsTopic(name, count)


def decode_request(r: Reader, version: int) -> CreatePartitionsRequest:
    return CreatePartitionsRequest(r.array(_topic), r.int32(), r.boolean())


def encode_response(resp: CreatePartitionsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for name, code, message in resp.results:
        w.string(name).int16(code).nullable_string(message)
    return w.getvalue()
