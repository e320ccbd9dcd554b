"""InitProducerId (key 22), v0-1: a producer id for the idempotent producer."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 22
VERSIONS = (0, 1)


@dataclass(frozen=True, slots=True)
class InitProducerIdRequest:
    transactional_id: str | None
    transaction_timeout_ms: int


@dataclass(frozen=True, slots=True)
class InitProducerIdResponse:
    error_code: int
    producer_id: int
    producer_epoch: int
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> InitProducerIdRequest:
    return InitProducerIdRequest(r.nullable_string(), r.int32())


def encode_response(resp: InitProducerIdResponse, version: int) -> bytes:
    return (Writer().int32(resp.throttle_time_ms).int16(resp.error_code)
            .int64(resp.producer_id).int16(resp.producer_epoch).getvalue())
