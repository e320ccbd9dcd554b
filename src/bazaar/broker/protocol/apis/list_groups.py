"""ListGroups (key 16), v0-4: v3 is flexible, v4 adds each group's state and a state filter
(what librdkafka's ``list_consumer_groups(states=...)`` sends)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker._errors import ProtocolError
from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 16
VERSIONS = (0, 4)
FLEXIBLE_FROM = 3


@dataclass(frozen=True, slots=True)
class ListGroupsRequest:
    states_filter: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ListGroupsResponse:
    error_code: int
    groups: list[tuple[str, str, str]]  # group id, protocol type, state
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> ListGroupsRequest:
    states: list[str] = []
    if version >= 4:
        n = r.uvarint() - 1
        if n > r.remaining():
            raise ProtocolError(f"array of {n} items cannot fit the frame")
        states = [r.compact_string() for _ in range(max(n, 0))]
    if version >= 3:
        r.skip_tags()
    return ListGroupsRequest(states)


def encode_response(resp: ListGroupsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.int16(resp.error_code)
    if version < 3:
        w.array_len(len(resp.groups))
        for group, protocol_type, _state in resp.groups:
            w.string(group).string(protocol_type)
        return w.getvalue()
    w.uvarint(len(resp.groups) + 1)
    for group, protocol_type, state in resp.groups:
        w.compact_string(group).compact_string(protocol_type)
        if version >= 4:
            w.compact_string(state)
        w.empty_tags()
    return w.empty_tags().getvalue()
