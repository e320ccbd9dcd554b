"""DeleteGroups (key 42), v0-1: remove empty groups and their committed offsets."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 42
VERSIONS = (0, 1)


@dataclass(frozen=True, slots=True)
class DeleteGroupsRequest:
    groups: list[str]


@dataclass(frozen=True, slots=True)
class DeleteGroupsResponse:
    results: list[tuple[str, int]]  # group, error
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> DeleteGroupsRequest:
    return DeleteGroupsRequest(r.array(Reader.string))


def encode_response(resp: DeleteGroupsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for group, code in resp.results:
        w.string(group).int16(code)
    return w.getvalue()
