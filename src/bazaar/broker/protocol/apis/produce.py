"""Produce (key 0), v3-8: record batches in, one base offset per partition out."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 0
VERSIONS = (3, 8)


@dataclass(slots=True)
class ProducePartition:
    index: int
    records: memoryview | None


@dataclass(slots=True)
class ProduceTopic:
    name: str
    partitions: list[ProducePartition]


@dataclass(slots=True)
class ProduceRequest:
    transactional_id: str | None
    acks: int
    timeout_ms: int
    topics: list[ProduceTopic]


@dataclass(slots=True)
class ProducePartitionResponse:
    index: int
    error_code: int
    base_offset: int = -1
    log_append_time_ms: int = -1
    log_start_offset: int = -1
    error_message: str | None = None


@dataclass(slots=True)
class ProduceTopicResponse:
    name: str
    partitions: list[ProducePartitionResponse] = field(default_factory=list)


@dataclass(slots=True)
class ProduceResponse:
    topics: list[ProduceTopicResponse]
    throttle_time_ms: int = 0


def _partition(r: Reader) -> ProducePartition:
    return ProducePartition(r.int32(), r.nullable_view())


def _topic(r: Reader) -> ProduceTopic:
    return ProduceTopic(r.string(), r.array(_partition))


def decode_request(r: Reader, version: int) -> ProduceRequest:
    return ProduceRequest(r.nullable_string(), r.int16(), r.int32(), r.array(_topic))


def encode_response(resp: ProduceResponse, version: int) -> bytes:
    w = Writer().array_len(len(resp.topics))
    for topic in resp.topics:
        w.string(topic.name).array_len(len(topic.partitions))
        for p in topic.partitions:
            w.int32(p.index).int16(p.error_code).int64(p.base_offset).int64(p.log_append_time_ms)
            if version >= 5:
                w.int64(p.log_start_offset)
            if version >= 8:
                w.array_len(0).nullable_string(p.error_message)
    w.int32(resp.throttle_time_ms)
    return w.getvalue()
