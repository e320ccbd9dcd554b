"""AddOffsetsToTxn (key 25), v0-2: the producer will commit a group's offsets in its
transaction (TxnOffsetCommit follows)."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 25
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class AddOffsetsToTxnRequest:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    group_id: str


@dataclass(frozen=True, slots=True)
class AddOffsetsToTxnResponse:
    error_code: int
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> AddOffsetsToTxnRequest:
    return AddOffsetsToTxnRequest(r.string(), r.int64(), r.int16(), r.string())


def encode_response(resp: AddOffsetsToTxnResponse, version: int) -> bytes:
    return Writer().int32(resp.throttle_time_ms).int16(resp.error_code).getvalue()
