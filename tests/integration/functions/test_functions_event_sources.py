"""Event source mapping: a topic on the Kafka-compatible broker drives a function, in batches,
in order per partition, offsets committed after success, poison batches dead-lettered."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bazaar.broker import BrokerProcess, run_subprocess
from bazaar.functions import (
    FunctionsClient,
    FunctionSpec,
    InvalidRequest,
    ResourceNotFound,
    start_server_process,
)
from bazaar.processes import eventually

CONSUMER = '''
import base64

def handler(event, context):
    for record in event["records"]:
        print("record", record["partition"], record["offset"])
        if base64.b64decode(record["value"]) == b"poison":
            raise ValueError("poison record at offset %d" % record["offset"])
    return len(event["records"])
'''


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with run_subprocess(tmp_path_factory.mktemp("broker") / "data",
                        args=("--partitions", "2")) as running:
        yield running


async def _produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]
                   ) -> dict[int, list[int]]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    offsets: dict[int, list[int]] = defaultdict(list)
    try:
        for key, value in values:
            meta = await producer.send_and_wait(topic, value, key=key)
            offsets[meta.partition].append(meta.offset)
    finally:
        await producer.stop()
    return offsets


async def _committed(bootstrap: str, group: str, topic: str,
                     partitions: list[int]) -> dict[int, int | None]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        return {p: await consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        await consumer.stop()


def test_topic_to_function_in_order_with_commits_and_dead_letters(
        tmp_path: Path, broker: BrokerProcess,
        make_zip: Callable[[dict[str, str]], bytes]) -> None:
    topic = "orders-events"
    with start_server_process(tmp_path / "data", workers=1, retry_backoff_s=0.05) as server, \
            server.client() as client:
        client.create(FunctionSpec("consume"), make_zip({"app.py": CONSUMER}))
        with pytest.raises(ResourceNotFound):
            client.create_event_source("missing", topic, broker.bootstrap)
        with pytest.raises(InvalidRequest):
            client.create_event_source("consume", "bad topic!", broker.bootstrap)
        with pytest.raises(InvalidRequest):
            client.create_event_source("consume", topic, broker.bootstrap, batch_size=0)
        assert client.event_sources() == []

        records = [(str(i % 7).encode(), f"order-{i}".encode()) for i in range(120)]
        records.insert(60, (b"3", b"poison"))
        produced = asyncio.run(_produce(broker.bootstrap, topic, records))
        assert len(produced) == 2  # both partitions got records
        mapping = client.create_event_source("consume", topic, broker.bootstrap,
                                             batch_size=10, starting_position="earliest")
        eventually(lambda: client.event_sources()[0].get("records", 0) >= len(records), timeout=60)

        seen: dict[int, list[int]] = defaultdict(list)
        reports = [r for r in client.logs("consume", 500)
                   if r["invocationType"] == "EventSource" and r["error"] is None]
        for report in sorted(reports, key=lambda r: r["timestamp"]):
            for line in report["logs"].splitlines():
                _, partition, offset = line.split()
                seen[int(partition)].append(int(offset))
        for offsets in seen.values():  # batches ran in order within each partition
            assert offsets == sorted(offsets)
        [letter] = client.dead_letters("consume")
        assert letter["reason"] == "RetriesExhausted" and letter["attempts"] == 3
        assert letter["error"]["errorMessage"].startswith("poison record")
        poisoned = json.loads(letter["payload"])
        assert any(base64.b64decode(r["value"]) == b"poison" for r in poisoned["records"])
        seen[poisoned["partition"]] += [r["offset"] for r in poisoned["records"]]
        for partition, offsets in produced.items():  # every record once: none lost or twice
            assert sorted(seen[partition]) == offsets
        committed = asyncio.run(_committed(broker.bootstrap, f"bazaar-functions-{mapping['uuid']}",
                                           topic, sorted(produced)))
        assert committed == {p: offsets[-1] + 1 for p, offsets in produced.items()}

        client.delete_event_source(mapping["uuid"])
        assert client.event_sources() == []
        with pytest.raises(ResourceNotFound):
            client.delete_event_source(mapping["uuid"])


def test_a_mapping_resumes_from_its_committed_offsets_after_a_restart(
        tmp_path: Path, broker: BrokerProcess,
        make_zip: Callable[[dict[str, str]], bytes]) -> None:
    topic, data = "restart-events", tmp_path / "data"

    def processed(client: FunctionsClient) -> list[tuple[int, int]]:
        seen = []
        for report in client.logs("consume", 500):
            if report["invocationType"] == "EventSource" and report["error"] is None:
                seen += [(int(p), int(o)) for _, p, o in
                         (line.split() for line in report["logs"].splitlines())]
        return seen

    first = asyncio.run(_produce(broker.bootstrap, topic,
                                 [(str(i).encode(), b"a") for i in range(30)]))
    with start_server_process(data, workers=1) as server, server.client() as client:
        client.create(FunctionSpec("consume"), make_zip({"app.py": CONSUMER}))
        client.create_event_source("consume", topic, broker.bootstrap, batch_size=5,
                                   starting_position="earliest")
        # all committed
        eventually(lambda: client.event_sources()[0].get("records") == 30, timeout=60)
    second = asyncio.run(_produce(broker.bootstrap, topic,
                                  [(str(i).encode(), b"b") for i in range(30)]))
    with start_server_process(data, workers=1) as server, server.client() as client:
        assert len(client.event_sources()) == 1  # the mapping is durable
        eventually(lambda: len(processed(client)) == 60, timeout=60)
        seen = processed(client)
    expected = sorted((p, o) for produced in (first, second)
                      for p, offsets in produced.items() for o in offsets)
    assert sorted(seen) == expected  # nothing twice, nothing skipped across the restart
