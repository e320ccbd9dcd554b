"""LeaveGroup (key 13), v0-3 (v3 leaves several members at once)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 13
VERSIONS = (0, 3)


@dataclass(frozen=True, slots=True)
class LeaveGroupRequest:
    group_id: str
    member_ids: list[str]


@dataclass(slots=True)
class LeaveGroupResponse:
    error_code: int
    members: list[tuple[str, int]] = field(default_factory=list)  # v3: member, error
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> LeaveGroupRequest:
    group = r.string()
    if version >= 3:
        members = r.array(lambda r: (r.string(), r.nullable_string()))
        return LeaveGroupRequest(group, [m for m, _instance in members])
    return LeaveGroupRequest(group, [r.string()])


def encode_response(resp: LeaveGroupResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.int16(resp.error_code)
    if version >= 3:
        w.array_len(len(resp.members))
        for member, code in resp.members:
            w.string(member).nullable_string(None).int16(code)
    return w.getvalue()
