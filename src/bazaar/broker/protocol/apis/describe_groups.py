"""DescribeGroups (key 15), v0-2."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 15
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class DescribeGroupsRequest:
    groups: list[str]


@dataclass(frozen=True, slots=True)
class DescribedMember:
    member_id: str
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


@dataclass(slots=True)
class DescribedGroup:
    error_code: int
    group_id: str
    state: str
    protocol_type: str
    protocol: str
    members: list[DescribedMember] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DescribeGroupsResponse:
    groups: list[DescribedGroup]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DescribeGroupsRequest:
    return DescribeGroupsRequest(r.array(Reader.string))


def encode_response(resp: DescribeGroupsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.array_len(len(resp.groups))
    for g in resp.groups:
        w.int16(g.error_code).string(g.group_id).string(g.state).string(g.protocol_type)
        w.string(g.protocol).array_len(len(g.members))
        for m in g.members:
            w.string(m.member_id).string(m.client_id).string(m.client_host)
            w.bytes_(m.metadata).bytes_(m.assignment)
    return w.getvalue()
