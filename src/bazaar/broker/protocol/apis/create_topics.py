"""CreateTopics (key 19), v0-4."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 19
VERSIONS = (0, 4)


@dataclass(frozen=True, slots=True)
class NewTopic:
    name: str
    num_partitions: int
    replication_factor: int
    assignments: list[tuple[int, list[int]]]
    configs: list[tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class CreateTopicsRequest:
    topics: list[NewTopic]
    timeout_ms: int
    validate_only: bool = False


@dataclass(frozen=True, slots=True)
class CreateTopicsResponse:
    topics: list[tuple[str, int, str | None]]  # name, error code, message
    throttle_time_ms: int = 0


def _topic(r: Reader) -> NewTopic:
    return NewTopic(r.string(), r.int32(), r.int16(),
                    r.array(lambda r: (r.int32(), r.array(Reader.int32))),
                    r.array(lambda r: (r.string(), r.nullable_string())))


def decode_request(r: Reader, version: int) -> CreateTopicsRequest:
    topics = r.array(_topic)
    timeout = r.int32()
    return CreateTopicsRequest(topics, timeout, r.boolean() if version >= 1 else False)


def encode_response(resp: CreateTopicsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 2:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.topics))
    for name, code, message in resp.topics:
        w.string(name).int16(code)
        if version >= 1:
            w.nullable_string(message)
    return w.getvalue()
