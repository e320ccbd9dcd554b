"""Produce: validate each partition's record batches, append them, flush per policy, ack."""

from __future__ import annotations

import asyncio
import time

from bazaar.broker._errors import BrokerError, ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.log import Log
from bazaar.broker.protocol.apis import produce as api


def _flush(logs: list[Log]) -> None:
    for log in logs:
        log.flush()


async def produce(state: BrokerState, req: api.ProduceRequest, client: Client,
                  version: int) -> api.ProduceResponse | None:
    """None for acks=0: the client expects no response at all."""
    started = time.perf_counter()
    bad_acks = req.acks not in (-1, 0, 1)
    touched: list[Log] = []
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
            out.partitions.append(api.ProducePartitionResponse(
                part.index, 0, result.base_offset, -1, log.start_offset))
    if touched:
        state.notify_appended()
        if state.config.log.flush == "batch":
            await asyncio.to_thread(_flush, touched)
    state.metrics.produce_latency.observe(time.perf_counter() - started)
    if req.acks == 0:
        return None
    return api.ProduceResponse(topics)
