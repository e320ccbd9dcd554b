"""Fetch (long-poll, zero-copy file ranges) and ListOffsets."""

from __future__ import annotations

import os
import time

from bazaar.broker._errors import BrokerError, ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.log import LATEST, MAX_TIMESTAMP, FileRange
from bazaar.broker.protocol.apis import delete_records as dr
from bazaar.broker.protocol.apis import fetch as api
from bazaar.broker.protocol.apis import list_offsets as lo


def _build(state: BrokerState, req: api.FetchRequest,
           principal: str) -> tuple[api.FetchResponse, int, bool]:
    """One pass over the requested partitions: (response, record bytes, any error)."""
    cap = state.config.fetch_max_bytes  # whatever the client asks, as Kafka's broker caps it
    remaining = min(req.max_bytes, cap) if req.max_bytes > 0 else cap
    total = 0
    failed = False
    topics: list[api.FetchTopicResponse] = []
    for topic in req.topics:
        out = api.FetchTopicResponse(topic.name)
        topics.append(out)
        denied = not state.authorizer.allows(principal, "topic", topic.name, "READ")
        for p in topic.partitions:
            if denied:  # never a byte of its records
                out.partitions.append(api.FetchPartitionResponse(
                    p.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED, -1, -1))
                failed = True
                continue
            try:
                log = state.topics.get(topic.name, p.index)
            except BrokerError as exc:
                out.partitions.append(api.FetchPartitionResponse(p.index, exc.code, -1, -1))
                failed = True
                continue
            hw, start = log.high_watermark, log.start_offset
            if not start <= p.fetch_offset <= log.end_offset:
                out.partitions.append(api.FetchPartitionResponse(
                    p.index, ErrorCode.OFFSET_OUT_OF_RANGE, hw, start))
                failed = True
                continue
            lso = log.last_stable_offset
            committed_only = req.isolation_level == 1
            upto = lso if committed_only else hw
            records: FileRange | bytes = b""
            aborted: list[tuple[int, int]] | None = None
            if p.fetch_offset < upto and remaining > 0:
                found = log.read(p.fetch_offset, min(p.max_bytes, remaining), upto)
                if found is not None:
                    records = found
                    if not state.config.zero_copy:  # the copying path, for the experiment
                        records = os.pread(found.fd, found.size, found.position)
                    size = found.size
                    total += size
                    remaining -= size
            if committed_only:
                aborted = [(t.producer_id, t.first_offset)
                           for t in log.aborted_between(p.fetch_offset, upto)]
            out.partitions.append(api.FetchPartitionResponse(p.index, 0, hw, start, records,
                                                             lso, aborted))
    return api.FetchResponse(topics), total, failed


async def fetch(state: BrokerState, req: api.FetchRequest, client: Client,
                version: int) -> api.FetchResponse:
    started = time.perf_counter()
    wait_ms = min(max(req.max_wait_ms, 0), state.config.request_timeout_ms)
    deadline = time.monotonic() + wait_ms / 1000
    while True:
        response, total, failed = _build(state, req, client.principal)
        left = deadline - time.monotonic()
        if total >= max(req.min_bytes, 1) or failed or left <= 0:
            break
        await state.wait_appended(left)
    state.metrics.fetch_latency.observe(time.perf_counter() - started)
    return response


async def list_offsets(state: BrokerState, req: lo.ListOffsetsRequest, client: Client,
                       version: int) -> lo.ListOffsetsResponse:
    topics: list[tuple[str, list[lo.ListOffsetsPartitionResponse]]] = []
    for name, partitions in req.topics:
        out: list[lo.ListOffsetsPartitionResponse] = []
        denied = not state.authorizer.allows(client.principal, "topic", name, "DESCRIBE")
        for p in partitions:
            if denied:
                out.append(lo.ListOffsetsPartitionResponse(
                    p.index, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            try:
                log = state.topics.get(name, p.index)
            except BrokerError as exc:
                out.append(lo.ListOffsetsPartitionResponse(p.index, exc.code))
                continue
            stamp = -1
            if p.timestamp == LATEST:
                offset = log.last_stable_offset if req.isolation_level == 1 else (
                    log.high_watermark)
            elif p.timestamp == MAX_TIMESTAMP:  # KIP-734: the record with the largest one
                found = log.max_timestamp_record()
                offset, stamp = found if found is not None else (-1, -1)
            elif p.timestamp < 0:
                offset = log.offset_for(p.timestamp)
            else:  # by time: the found record's offset and timestamp, or -1 / -1 (Kafka)
                found = log.find_timestamp(p.timestamp)
                offset, stamp = found if found is not None else (-1, -1)
            out.append(lo.ListOffsetsPartitionResponse(p.index, 0, stamp, offset))
        topics.append((name, out))
    return lo.ListOffsetsResponse(topics)


async def delete_records(state: BrokerState, req: dr.DeleteRecordsRequest, client: Client,
                         version: int) -> dr.DeleteRecordsResponse:
    """Offset -1 means the high watermark (delete everything), as in Kafka."""
    topics: list[tuple[str, list[tuple[int, int, int]]]] = []
    for name, partitions in req.topics:
        out: list[tuple[int, int, int]] = []
        denied = not state.authorizer.allows(client.principal, "topic", name, "DELETE")
        for index, offset in partitions:
            if denied:
                out.append((index, -1, ErrorCode.TOPIC_AUTHORIZATION_FAILED))
                continue
            try:
                log = state.topics.get(name, index)
                target = log.high_watermark if offset == -1 else offset
                if target < 0:
                    raise BrokerError(f"offset {offset}")
                out.append((index, log.delete_records(target), 0))
            except BrokerError as exc:
                code = exc.code if exc.code != ErrorCode.UNKNOWN_SERVER_ERROR else (
                    ErrorCode.OFFSET_OUT_OF_RANGE)
                out.append((index, -1, code))
        topics.append((name, out))
    return dr.DeleteRecordsResponse(topics)
