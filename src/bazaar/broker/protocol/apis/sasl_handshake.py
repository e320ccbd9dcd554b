"""SaslHandshake (key 17), v0-1 (KIP-43): the client names its mechanism. v1 means the
tokens follow in SaslAuthenticate requests; v0's unframed tokens are not spoken here."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 17
VERSIONS = (0, 1)


@dataclass(frozen=True, slots=True)
class SaslHandshakeRequest:
    mechanism: str


@dataclass(frozen=True, slots=True)
class SaslHandshakeResponse:
    error_code: int
    mechanisms: list[str]


def decode_request(r: Reader, version: int) -> SaslHandshakeRequest:
    return SaslHandshakeRequest(r.string())


def encode_response(resp: SaslHandshakeResponse, version: int) -> bytes:
    w = Writer().int16(resp.error_code).array_len(len(resp.mechanisms))
    for mechanism in resp.mechanisms:
        w.string(mechanism)
    return w.getvalue()
