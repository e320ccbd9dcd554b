"""Produce: validate each partition's record batches, append them, ack.

acks=all (-1) is answered only after the group commit's fdatasync covered the records
(durable on this one node); with ``flush="batch"`` acks=1 waits for it too. acks=1 and
acks=0 otherwise leave the records in the page cache (``flush="interval"`` syncs them
within ``flush_interval_ms``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bazaar.broker._errors import BrokerError, ErrorCode, StorageError
from bazaar.broker._state import ANONYMOUS, BrokerState, Client
from bazaar.broker.log import Log, batch
from bazaar.broker.protocol.apis import produce as api


@dataclass
class Appended:
    """A produce request whose records are appended: what is left is its answer."""

    acks: int  # (not the request: its records are views of the frame, released once written)
    topics: list[api.ProduceTopicResponse]
    answers: list[api.ProducePartitionResponse]  # the partitions appended
    durable: list[Log]  # to cover with a group commit before answering ([]: answer now)
    started: float


def append(state: BrokerState, req: api.ProduceRequest, principal: str = ANONYMOUS) -> Appended:
    """Validate and append every partition's batches, in request order, without waiting
    (a topic the principal may not WRITE gets TOPIC_AUTHORIZATION_FAILED, nothing appended)."""
    started = time.perf_counter()
    bad_acks = req.acks not in (-1, 0, 1)
    await_sync = req.acks == -1 or state.config.log.flush == "batch"
    touched: list[Log] = []
    answers: list[api.ProducePartitionResponse] = []
    topics: list[api.ProduceTopicResponse] = []
    for topic in req.topics:
        out = api.ProduceTopicResponse(topic.name)
        topics.append(out)
        denied = not state.authorizer.allows(principal, "topic", topic.name, "WRITE")
        for part in topic.partitions:
            if bad_acks or denied:
                out.partitions.append(api.ProducePartitionResponse(
                    part.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED if denied
                    else ErrorCode.INVALID_REQUIRED_ACKS))
                continue
            try:
                log = state.topics.get(topic.name, part.index)
                if part.records is None:
                    raise BrokerError("null records")
                if req.transactional_id is not None:
                    code = _check_transactional(state, req.transactional_id, topic.name,
                                                part.index, part.records)
                    if code:
                        out.partitions.append(api.ProducePartitionResponse(part.index, code))
                        continue
                result = log.append(part.records, await_sync=await_sync)
            except BrokerError as exc:
                out.partitions.append(api.ProducePartitionResponse(
                    part.index, exc.code, error_message=str(exc)))
                continue
            state.metrics.bytes_in += len(part.records)
            touched.append(log)
            answer = api.ProducePartitionResponse(
                part.index, 0, result.base_offset, -1, log.start_offset)
            answers.append(answer)
            out.partitions.append(answer)
    if touched:
        state.notify_appended()
    durable = touched if await_sync else []
    return Appended(req.acks, topics, answers, durable, started)


def _check_transactional(state: BrokerState, txn_id: str, topic: str, partition: int,
                         records: memoryview) -> int:
    """A transactional producer may write only partitions added to its open transaction,
    with its current epoch: else INVALID_TXN_STATE / INVALID_PRODUCER_EPOCH (a zombie)."""
    if len(records) < batch.HEADER_SIZE:
        return ErrorCode.CORRUPT_MESSAGE
    header = batch.parse_header(records)
    return state.transactions.check_produce(txn_id, header.producer_id, header.producer_epoch,
                                            topic, partition)


async def settle(state: BrokerState, appended: Appended) -> api.ProduceResponse | None:
    """Wait for the group commit the request needs; its response (None for acks=0)."""
    if appended.durable:
        try:
            await state.group_commit.durable(appended.durable)
        except StorageError as exc:
            for answer in appended.answers:  # appended, maybe not durable: no success ack
                answer.error_code = exc.code
                answer.error_message = str(exc)
                answer.base_offset = -1
        state.notify_appended()  # the high watermark moved: wake the long polls
    state.metrics.produce_latency.observe(time.perf_counter() - appended.started)
    if appended.acks == 0:
        return None
    return api.ProduceResponse(appended.topics)


async def produce(state: BrokerState, req: api.ProduceRequest, client: Client,
                  version: int) -> api.ProduceResponse | None:
    """Append, then answer once durable as the request needs. None for acks=0: the client
    expects no response at all. (The connection shell pipelines: it appends the next
    produce request while this one waits, with :func:`append` and :func:`settle`.)"""
    return await settle(state, append(state, req, client.principal))
