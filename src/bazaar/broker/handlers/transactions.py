"""AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit, EndTxn: the coordinator's answers
as Kafka error codes (InitProducerId lives with the cluster handlers)."""

from __future__ import annotations

from bazaar.broker._errors import BrokerError, ErrorCode, TransactionError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import add_offsets_to_txn as ao
from bazaar.broker.protocol.apis import add_partitions_to_txn as ap
from bazaar.broker.protocol.apis import end_txn as et
from bazaar.broker.protocol.apis import txn_offset_commit as tc

_DENIED = ErrorCode.TRANSACTIONAL_ID_AUTHORIZATION_FAILED


def _may(state: BrokerState, client: Client, transactional_id: str) -> bool:
    return state.authorizer.allows(client.principal, "transactional_id", transactional_id,
                                   "WRITE")


async def add_partitions_to_txn(state: BrokerState, req: ap.AddPartitionsToTxnRequest,
                                client: Client, version: int) -> ap.AddPartitionsToTxnResponse:
    allows = state.authorizer.allows
    if not _may(state, client, req.transactional_id):
        return ap.AddPartitionsToTxnResponse([(t, [(p, _DENIED) for p in parts])
                                              for t, parts in req.topics])
    denied = [t for t, _ in req.topics if not allows(client.principal, "topic", t, "WRITE")]
    if denied:  # the whole request fails; the others were not attempted (Kafka's answer)
        return ap.AddPartitionsToTxnResponse([
            (t, [(p, ErrorCode.TOPIC_AUTHORIZATION_FAILED if t in denied
                  else ErrorCode.OPERATION_NOT_ATTEMPTED) for p in parts])
            for t, parts in req.topics])
    try:
        return ap.AddPartitionsToTxnResponse(state.transactions.add_partitions(
            req.transactional_id, req.producer_id, req.producer_epoch, req.topics))
    except TransactionError as exc:
        return ap.AddPartitionsToTxnResponse([(t, [(p, exc.code) for p in parts])
                                              for t, parts in req.topics])


async def add_offsets_to_txn(state: BrokerState, req: ao.AddOffsetsToTxnRequest,
                             client: Client, version: int) -> ao.AddOffsetsToTxnResponse:
    if not _may(state, client, req.transactional_id):
        return ao.AddOffsetsToTxnResponse(_DENIED)
    if not state.authorizer.allows(client.principal, "group", req.group_id, "READ"):
        return ao.AddOffsetsToTxnResponse(ErrorCode.GROUP_AUTHORIZATION_FAILED)
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
    allows = state.authorizer.allows
    gate = 0
    if not _may(state, client, req.transactional_id):
        gate = _DENIED
    elif not allows(client.principal, "group", req.group_id, "READ"):
        gate = ErrorCode.GROUP_AUTHORIZATION_FAILED
    for name, partitions in req.topics:
        count = len(state.topics.partitions(name)) if name in state.topics else 0
        topic_ok = allows(client.principal, "topic", name, "READ")
        for p in partitions:
            if gate or not topic_ok:
                codes[(name, p.index)] = gate or ErrorCode.TOPIC_AUTHORIZATION_FAILED
            elif 0 <= p.index < count:
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
    if not _may(state, client, req.transactional_id):
        return et.EndTxnResponse(_DENIED)
    try:
        await state.transactions.end_txn(req.transactional_id, req.producer_id,
                                         req.producer_epoch, req.committed)
    except TransactionError as exc:
        return et.EndTxnResponse(exc.code)
    except BrokerError as exc:  # a marker's write or sync failed: the client retries
        return et.EndTxnResponse(exc.code)
    return et.EndTxnResponse(ErrorCode.NONE)
