"""SaslAuthenticate (key 36), v0-2 (KIP-152; v1 adds the session lifetime of KIP-368, v2 is
flexible): one SASL token each way, and an error with a message when authentication fails."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker._errors import ProtocolError
from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 36
VERSIONS = (0, 2)
FLEXIBLE_FROM = 2


@dataclass(frozen=True, slots=True)
class SaslAuthenticateRequest:
    auth_bytes: bytes


@dataclass(frozen=True, slots=True)
class SaslAuthenticateResponse:
    error_code: int
    error_message: str | None
    auth_bytes: bytes
    session_lifetime_ms: int = 0  # 0: the session does not expire (no re-authentication)


def decode_request(r: Reader, version: int) -> SaslAuthenticateRequest:
    if version >= FLEXIBLE_FROM:
        n = r.uvarint() - 1
        if n < 0:
            raise ProtocolError("null SASL token")
        start = r.pos
        r.pos += n
        if r.pos > len(r.buf):
            raise ProtocolError("SASL token runs past the frame")
        token = bytes(r.buf[start:r.pos])
        r.skip_tags()
        return SaslAuthenticateRequest(token)
    return SaslAuthenticateRequest(r.bytes_())


def encode_response(resp: SaslAuthenticateResponse, version: int) -> bytes:
    w = Writer().int16(resp.error_code)
    if version >= FLEXIBLE_FROM:
        if resp.error_message is None:
            w.uvarint(0)
        else:
            w.compact_string(resp.error_message)
        w.uvarint(len(resp.auth_bytes) + 1)
        w.buf += resp.auth_bytes
        w.int64(resp.session_lifetime_ms).empty_tags()
        return w.getvalue()
    w.nullable_string(resp.error_message).bytes_(resp.auth_bytes)
    if version >= 1:
        w.int64(resp.session_lifetime_ms)
    return w.getvalue()
