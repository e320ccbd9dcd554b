"""Request and response headers, and the size prefix that frames every message."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader

_SIZE_AND_CORRELATION = struct.Struct(">ii")


@dataclass(frozen=True, slots=True)
class RequestHeader:
    """Request header v1 (v2 adds tagged fields, used only by flexible requests)."""

    api_key: int
    api_version: int
    correlation_id: int
    client_id: str | None


def read_request_header(r: Reader, flexible: bool) -> RequestHeader:
    header = RequestHeader(r.int16(), r.int16(), r.int32(), r.nullable_string())
    if flexible:
        r.skip_tags()
    return header


def frame_response(correlation_id: int, body_size: int) -> bytes:
    """Size prefix + response header v0; the body of ``body_size`` bytes follows."""
    return _SIZE_AND_CORRELATION.pack(body_size + 4, correlation_id)
