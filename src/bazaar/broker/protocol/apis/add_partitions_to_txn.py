"""AddPartitionsToTxn (key 24), v0-2: a transactional producer names the partitions it
is about to write, before its first batch to each."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 24
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class AddPartitionsToTxnRequest:
    transactional_id: str
    producer_id: int
    producer_epoch: int
    topics: list[tuple[str, list[int]]]


@dataclass(frozen=True, slots=True)
class AddPartitionsToTxnResponse:
    results: list[tuple[str, list[tuple[int, int]]]]  # name, [(partition, error)]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> AddPartitionsToTxnRequest:
    return AddPartitionsToTxnRequest(r.string(), r.int64(), r.int16(),
                                     r.array(lambda r: (r.string(), r.array(Reader.int32))))


def encode_response(resp: AddPartitionsToTxnResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for name, partitions in resp.results:
        w.string(name).array_len(len(partitions))
        for index, code in partitions:
            w.int32(index).int16(code)
    return w.getvalue()
