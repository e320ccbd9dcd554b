"""TxnOffsetCommit (key 28), v0-2: a group's offsets, committed only if the transaction is."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 28
VERSIONS = (0, 2)


@dataclass(frozen=True, slots=True)
class TxnCommitPartition:
    index: int
    offset: int
    metadata: str | None


@dataclass(frozen=True, slots=True)
class TxnOffsetCommitRequest:
    transactional_id: str
    group_id: str
    producer_id: int
    producer_epoch: int
    topics: list[tuple[str, list[TxnCommitPartition]]]


@dataclass(frozen=True, slots=True)
class TxnOffsetCommitResponse:
    topics: list[tuple[str, list[tuple[int, int]]]]  # name, [(partition, error)]
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> TxnOffsetCommitRequest:
    txn_id, group, pid, epoch = r.string(), r.string(), r.int64(), r.int16()

    def partition(r: Reader) -> TxnCommitPartition:
        index, offset = r.int32(), r.int64()
        if version >= 2:
            r.int32()  # committed leader epoch
        return TxnCommitPartition(index, offset, r.nullable_string())

    return TxnOffsetCommitRequest(txn_id, group, pid, epoch,
                                  r.array(lambda r: (r.string(), r.array(partition))))


def encode_response(resp: TxnOffsetCommitResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.topics))
    for name, partitions in resp.topics:
        w.string(name).array_len(len(partitions))
        for index, code in partitions:
            w.int32(index).int16(code)
    return w.getvalue()
