"""Consumer groups with real clients: a rebalance when one of two consumers leaves loses and
repeats nothing; committed offsets survive a broker restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from bazaar.broker import BrokerProcess, run_subprocess

N = 1200
PARTITIONS = 4


def _fill(bootstrap: str, topic: str) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(10)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    for i in range(N):
        producer.produce(topic, value=str(i).encode(), partition=i % PARTITIONS)
    assert producer.flush(30) == 0


def test_two_confluent_consumers_each_message_exactly_once_across_a_leave(
        broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, KafkaException

    topic = f"g-{uuid.uuid4().hex[:8]}"
    _fill(broker.bootstrap, topic)
    conf = {"bootstrap.servers": broker.bootstrap, "group.id": topic,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 300}
    a, b = Consumer({**conf, "client.id": "a"}), Consumer({**conf, "client.id": "b"})
    a.subscribe([topic])
    b.subscribe([topic])
    seen: dict[str, list[int]] = {"a": [], "b": []}

    def step(name: str, consumer: Consumer) -> None:
        m = consumer.poll(0.05)
        if m is None or m.error():
            return
        try:  # count a message once its offset is committed: that is the contract
            consumer.commit(message=m, asynchronous=False)
        except KafkaException:
            return  # not committed: it will be delivered again, to whoever owns it
        seen[name].append(int(m.value()))

    deadline = time.monotonic() + 60
    while (len(seen["a"]) < 20 or len(seen["b"]) < 20) and time.monotonic() < deadline:
        step("a", a)
        step("b", b)
    assert len(seen["a"]) >= 20 and len(seen["b"]) >= 20, "both members got partitions"
    a.close()  # LeaveGroup: b takes over a's partitions from the committed offsets
    while len(seen["a"]) + len(seen["b"]) < N and time.monotonic() < deadline:
        step("b", b)
    b.close()
    everything = seen["a"] + seen["b"]
    assert sorted(everything) == list(range(N)), "every message exactly once"


def test_two_aiokafka_consumers_each_message_exactly_once_across_a_leave(
        broker: BrokerProcess) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.errors import CommitFailedError, KafkaError
    from aiokafka.structs import OffsetAndMetadata

    topic = f"ga-{uuid.uuid4().hex[:8]}"
    _fill(broker.bootstrap, topic)

    async def run() -> list[int]:
        def make(name: str) -> AIOKafkaConsumer:
            return AIOKafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=topic,
                                    client_id=name, auto_offset_reset="earliest",
                                    enable_auto_commit=False, session_timeout_ms=6000,
                                    heartbeat_interval_ms=300, max_poll_records=20)

        a, b = make("a"), make("b")
        await a.start()
        await b.start()
        seen: dict[str, list[int]] = {"a": [], "b": []}

        async def step(name: str, consumer: AIOKafkaConsumer) -> None:
            batch = await consumer.getmany(timeout_ms=100, max_records=20)
            for tp, messages in batch.items():
                try:
                    await consumer.commit({tp: OffsetAndMetadata(messages[-1].offset + 1, "")})
                except (CommitFailedError, KafkaError):
                    continue
                seen[name].extend(int(m.value) for m in messages)

        deadline = time.monotonic() + 60
        while ((len(seen["a"]) < 20 or len(seen["b"]) < 20)
               and time.monotonic() < deadline):
            await asyncio.gather(step("a", a), step("b", b))
        assert len(seen["a"]) >= 20 and len(seen["b"]) >= 20
        await a.stop()
        while len(seen["a"]) + len(seen["b"]) < N and time.monotonic() < deadline:
            await step("b", b)
        await b.stop()
        return seen["a"] + seen["b"]

    assert sorted(asyncio.run(run())) == list(range(N))


def test_committed_offsets_survive_a_restart(tmp_path: Path) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    data = tmp_path / "data"
    topic = "orders"
    with run_subprocess(data, args=("--rebalance-delay-ms", "50")) as first:
        producer = Producer({"bootstrap.servers": first.bootstrap})
        for i in range(10):
            producer.produce(topic, str(i).encode())
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": first.bootstrap, "group.id": "billing",
                             "enable.auto.commit": False})
        consumer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
        consumer.close()
    with run_subprocess(data, args=("--rebalance-delay-ms", "50")) as second:
        consumer = Consumer({"bootstrap.servers": second.bootstrap, "group.id": "billing",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        assert committed[0].offset == 7
        consumer.subscribe([topic])
        first_seen = None
        deadline = time.monotonic() + 30
        while first_seen is None and time.monotonic() < deadline:
            m = consumer.poll(0.5)
            if m is not None and not m.error():
                first_seen = int(m.value())
        consumer.close()
        assert first_seen == 7  # resumes at the committed offset, not the beginning
