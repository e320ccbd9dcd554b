"""AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn: the coordinator's answers
as Kafka error codes (InitProducerId lives with the cluster handlers)."""

from __future__ import annotations

from bazaar.broker._errors import BrokerError, ErrorCode, TransactionError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import add_offsets_to_txn as ao
from bazaar.broker.protocol.apis import add_partitions_to_txn as ap
from bazaar.broker.protocol.apis import end_txn as et
from bazaar.broker.protocol.apis import txn_offset_commit as tc


async def add_partitions_to_txn(state: BrokerState, req: ap.AddPartitionsToTxnRequest,
                                client: Client, version: int) -> ap.AddPartitionsToTxnResponse:
    try:
        return ap.AddPartitionsToTxnResponse(state.transactions.add_partitions(
            req.transactional_id, req.producer_id, req.producer_epoch, req.topics))
    except TransactionError as exc:
        return ap.AddPartitionsToTxnResponse([(t, [(p, exc.code) for p in parts])
                                              for t, parts in req.topics])


async def add_offsets_to_txn(state: BrokerState, req: ao.AddOffsetsToTxnRequest,
                             client: Client, version: int) -> ao.AddOffsetsToTxnResponse:
    try:
        state.transactions.add_offsets(req.transactional_id, req.producer_id,
                                       req.producer_epoch, req.group_id)
    except TransactionError as exc:
        return ao.AddOffsetsToTxnResponse(exc.code)
    return ao.AddOffsetsToTxnResponse(ErrorCode.NONE)


async def txn_offset_commit(state: BrokerState, req: tc.TxnOffsetCommitRequest,
                            client: Client, version: int) -> tc.TxnOffsetCommitResponse:
    entries: list[tuple[str, int, int, str | None]] = []
    codes: dict[tuple[str, int], int] = {}
    for name, partitions in req.topics:
        count = len(state.topics.partitions(name)) if name in state.topics else 0
        for p in partitions:
            if 0 <= p.index < count:
                entries.append((name, p.index, p.offset, p.metadata))
            else:
                codes[(name, p.index)] = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
    try:
        if entries:
            state.transactions.txn_offset_commit(req.transactional_id, req.group_id,
                                                 req.producer_id, req.producer_epoch, entries)
    except TransactionError as exc:
        codes = {(t, p.index): exc.code for t, ps in req.topics for p in ps}
    return tc.TxnOffsetCommitResponse([(name, [(p.index, codes.get((name, p.index), 0))
                                               for p in partitions])
                                       for name, partitions in req.topics])


async def end_txn(state: BrokerState, req: et.EndTxnRequest, client: Client,
                  version: int) -> et.EndTxnResponse:
    try:
        await state.transactions.end_txn(req.transactional_id, req.producer_id,
                                         req.producer_epoch, req.committed)
    except TransactionError as exc:
        return et.EndTxnResponse(exc.code)
    except BrokerError as exc:  # a marker's write or sync failed: the client retries
        return et.EndTxnResponse(exc.code)
    return et.EndTxnResponse(ErrorCode.NONE)
