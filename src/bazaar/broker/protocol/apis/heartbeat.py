"""Heartbeat (key 12), v0-3."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 12
VERSIONS = (0, 3)


@dataclass(frozen=True, slots=True)
class HeartbeatRequest:
    group_id: str
    generation_id: int
    member_id: str


@dataclass(frozen=True, slots=True)
class HeartbeatResponse:
    error_code: int
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> HeartbeatRequest:
    request = HeartbeatRequest(r.string(), r.int32(), r.string())
    if version >= 3:
        r.nullable_string()
    return request


def encode_response(resp: HeartbeatResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    return w.int16(resp.error_code).getvalue()
