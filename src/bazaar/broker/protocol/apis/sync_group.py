"""SyncGroup (key 14), v0-3: the leader's assignments in, each member's own one out."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 14
VERSIONS = (0, 3)


@dataclass(frozen=True, slots=True)
class SyncGroupRequest:
    group_id: str
    generation_id: int
    member_id: str
    group_instance_id: str | None
    assignments: list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class SyncGroupResponse:
    error_code: int
    assignment: bytes = b""
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> SyncGroupRequest:
    group, generation, member = r.string(), r.int32(), r.string()
    instance = r.nullable_string() if version >= 3 else None
    return SyncGroupRequest(group, generation, member, instance,
                            r.array(lambda r: (r.string(), r.bytes_())))


def encode_response(resp: SyncGroupResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    return w.int16(resp.error_code).bytes_(resp.assignment).getvalue()
