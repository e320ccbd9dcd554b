"""ListGroups (key 16), v0-2."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 16
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class ListGroupsRequest:
    pass


@dataclass(frozen=True, slots=True)
class ListGroupsResponse:
    error_code: int
    groups: list[tuple[str, str]]  # group id, protocol type
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> ListGroupsRequest:
    return ListGroupsRequest()


def encode_response(resp: ListGroupsResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.int16(resp.error_code).array_len(len(resp.groups))
    for group, protocol_type in resp.groups:
        w.string(group).string(protocol_type)
    return w.getvalue()
