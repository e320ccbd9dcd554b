"""JoinGroup (key 11), v0-5."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 11
VERSIONS = (0, 5)


@dataclass(frozen=True, slots=True)
class JoinGroupRequest:
    group_id: str
    session_timeout_ms: int
    rebalance_timeout_ms: int
    member_id: str
    group_instance_id: str | None
    protocol_type: str
    protocols: list[tuple[str, bytes]]


@dataclass(slots=True)
class JoinGroupResponse:
    error_code: int
    generation_id: int = -1
    protocol_name: str = ""
    leader: str = ""
    member_id: str = ""
    members: list[tuple[str, bytes]] = field(default_factory=list)
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> JoinGroupRequest:
    group, session = r.string(), r.int32()
    rebalance = r.int32() if version >= 1 else session
    member = r.string()
    instance = r.nullable_string() if version >= 5 else None
    return JoinGroupRequest(group, session, rebalance, member, instance, r.string(),
                            r.array(lambda r: (r.string(), r.bytes_())))


def encode_response(resp: JoinGroupResponse, version: int) -> bytes:
    w = Writer()
    if version >= 2:
        w.int32(resp.throttle_time_ms)
    w.int16(resp.error_code).int32(resp.generation_id).string(resp.protocol_name)
    w.string(resp.leader).string(resp.member_id).array_len(len(resp.members))
    for member_id, metadata in resp.members:
        w.string(member_id)
        if version >= 5:
            w.nullable_string(None)
        w.bytes_(metadata)
    return w.getvalue()
