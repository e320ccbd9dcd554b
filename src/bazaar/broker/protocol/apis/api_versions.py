"""ApiVersions (key 18), v0-3. v3 is the one flexible version we speak (librdkafka sends it).

A request for a version we do not know gets a v0-shaped answer with UNSUPPORTED_VERSION and
our list, as Kafka does, so the client retries with a version from that list.
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 18
VERSIONS = (0, 3)
FLEXIBLE_FROM = 3


@dataclass(frozen=True, slots=True)
class ApiVersionsRequest:
    client_software_name: str | None = None
    client_software_version: str | None = None


@dataclass(frozen=True, slots=True)
class ApiVersionsResponse:
    error_code: int
    api_keys: list[tuple[int, int, int]]  # (key, min, max)
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> ApiVersionsRequest:
    if version >= 3:
        request = ApiVersionsRequest(r.compact_string(), r.compact_string())
        r.skip_tags()
        return request
    return ApiVersionsRequest()


def encode_response(resp: ApiVersionsResponse, version: int) -> bytes:
    w = Writer().int16(resp.error_code)
    if version >= 3:
        w.uvarint(len(resp.api_keys) + 1)
        for key, lo, hi in resp.api_keys:
            w.int16(key).int16(lo).int16(hi).empty_tags()
        w.int32(resp.throttle_time_ms).empty_tags()
        return w.getvalue()
    w.array_len(len(resp.api_keys))
    for key, lo, hi in resp.api_keys:
        w.int16(key).int16(lo).int16(hi)
    if version >= 1:
        w.int32(resp.throttle_time_ms)
    return w.getvalue()
