"""Produce: validate each partition's record batches, append them, ack.

acks=all (-1) is answered only after the group commit's fdatasync covered the records
(durable on this one node); with ``flush="batch"`` acks=1 waits for it too. acks=1 and
acks=0 otherwise leave the records in the page cache (``flush="interval"`` syncs them
within ``flush_interval_ms``).
"""

from __future__ import annotations

import time

from bazaar.broker._errors import BrokerError, ErrorCode, StorageError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.log import Log
from bazaar.broker.protocol.apis import produce as api


async def produce(state: BrokerState, req: api.ProduceRequest, client: Client,
                  version: int) -> api.ProduceResponse | None:
    """None for acks=0: the client expects no response at all."""
    started = time.perf_counter()
    bad_acks = req.acks not in (-1, 0, 1)
    touched: list[Log] = []
    answers: list[api.ProducePartitionResponse] = []
    topics: list[api.ProduceTopicResponse] = []
    for topic in req.topics:
        out = api.ProduceTopicResponse(topic.name)
        topics.append(out)
        for part in topic.partitions:
            if bad_acks:
                out.partitions.append(api.ProducePartitionResponse(
                    part.index, ErrorCode.INVALID_REQUIRED_ACKS))
                continue
            try:
                log = state.topics.get(topic.name, part.index)
                if part.records is None:
                    raise BrokerError("null records")
                result = log.append(part.records)
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
        if req.acks == -1 or state.config.log.flush == "batch":
            try:
                await state.group_commit.durable(touched)
            except StorageError as exc:
                for answer in answers:  # appended, maybe not durable: no success ack
                    answer.error_code = exc.code
                    answer.error_message = str(exc)
                    answer.base_offset = -1
    state.metrics.produce_latency.observe(time.perf_counter() - started)
    if req.acks == 0:
        return None
    return api.ProduceResponse(topics)
