"""Metadata (key 3), v0-8: which brokers exist and who leads each partition (always us)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 3
VERSIONS = (0, 8)


@dataclass(frozen=True, slots=True)
class MetadataRequest:
    topics: list[str] | None  # None: all topics
    allow_auto_topic_creation: bool = True


@dataclass(frozen=True, slots=True)
class Broker:
    node_id: int
    host: str
    port: int
    rack: str | None = None


@dataclass(slots=True)
class PartitionMetadata:
    error_code: int
    index: int
    leader_id: int
    leader_epoch: int = 0
    replicas: list[int] = field(default_factory=list)
    isr: list[int] = field(default_factory=list)


@dataclass(slots=True)
class TopicMetadata:
    error_code: int
    name: str
    partitions: list[PartitionMetadata] = field(default_factory=list)
    is_internal: bool = False


@dataclass(slots=True)
class MetadataResponse:
    brokers: list[Broker]
    cluster_id: str | None
    controller_id: int
    topics: list[TopicMetadata]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> MetadataRequest:
    if version == 0:
        names = r.array(Reader.string)
        topics: list[str] | None = names or None  # v0: empty means all
    else:
        topics = r.nullable_array(Reader.string)
    auto = r.boolean() if version >= 4 else True
    if version >= 8:
        r.boolean()
        r.boolean()
    return MetadataRequest(topics, auto)


def _ints(w: Writer, values: list[int]) -> None:
    w.array_len(len(values))
    for v in values:
        w.int32(v)


def encode_response(resp: MetadataResponse, version: int) -> bytes:
    w = Writer()
    if version >= 3:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.brokers))
    for b in resp.brokers:
        w.int32(b.node_id).string(b.host).int32(b.port)
        if version >= 1:
            w.nullable_string(b.rack)
    if version >= 2:
        w.nullable_string(resp.cluster_id)
    if version >= 1:
        w.int32(resp.controller_id)
    w.array_len(len(resp.topics))
    for t in resp.topics:
        w.int16(t.error_code).string(t.name)
        if version >= 1:
            w.boolean(t.is_internal)
        w.array_len(len(t.partitions))
        for p in t.partitions:
            w.int16(p.error_code).int32(p.index).int32(p.leader_id)
            if version >= 7:
                w.int32(p.leader_epoch)
            _ints(w, p.replicas)
            _ints(w, p.isr)
            if version >= 5:
                _ints(w, [])
        if version >= 8:
            w.int32(-2147483648)
    if version >= 8:
        w.int32(-2147483648)
    return w.getvalue()
