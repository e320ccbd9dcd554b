"""FindCoordinator (key 10), v0-2: the coordinator of every group is this broker."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 10
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class FindCoordinatorRequest:
    key: str
    key_type: int = 0  # 0 group, 1 transaction


@dataclass(frozen=True, slots=True)
class FindCoordinatorResponse:
    error_code: int
    node_id: int
    host: str
    port: int
    error_message: str | None = None
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> FindCoordinatorRequest:
    key = r.string()
    return FindCoordinatorRequest(key, r.int8() if version >= 1 else 0)


def encode_response(resp: FindCoordinatorResponse, version: int) -> bytes:
    w = Writer()
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    w.int16(resp.error_code)
    if version >= 1:
        w.nullable_string(resp.error_message)
    return w.int32(resp.node_id).string(resp.host).int32(resp.port).getvalue()
