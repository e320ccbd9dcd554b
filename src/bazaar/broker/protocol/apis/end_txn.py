"""EndTxn (key 26), v0-2: commit or abort the producer's transaction."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 26
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class EndTxnRequest:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    committed: bool


@dataclass(frozen=True, slots=True)
class EndTxnResponse:
    error_code: int
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> EndTxnRequest:
    return EndTxnRequest(r.string(), r.int64(), r.int16(), r.boolean())


def encode_response(resp: EndTxnResponse, version: int) -> bytes:
    return Writer().int32(resp.throttle_time_ms).int16(resp.error_code).getvalue()
