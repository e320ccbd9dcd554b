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


def frame_response(correlation_id: int, body_size: int, *, tagged: bool = False) -> bytes:
    """Size prefix + response header v0 (v1 with ``tagged``: an empty tagged-fields
    section, for flexible versions); the body of ``body_size`` bytes follows."""
    if tagged:
        return _SIZE_AND_CORRELATION.pack(body_size + 5, correlation_id) + b"\x00"
    return _SIZE_AND_CORRELATION.pack(body_size + 4, correlation_id)
