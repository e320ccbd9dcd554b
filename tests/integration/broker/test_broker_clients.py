"""Unmodified Kafka clients against a real broker process: kcat, confluent-kafka (librdkafka),
aiokafka and kafka-python produce and consume; the rest of Bazaar only ever talks to the
broker this way (``BAZAAR_KAFKA_BOOTSTRAP``), so a real Kafka cluster is a drop-in.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid

import pytest

from bazaar.broker import BrokerProcess

confluent_kafka = pytest.importorskip("confluent_kafka")


def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.mark.skipif(KCAT is None, reason="kcat not installed (apt-get install kcat)")
def test_kcat_metadata_produce_consume(broker: BrokerProcess) -> None:
    assert KCAT is not None
    topic = topic_name()
    lines = [f"line {i}" for i in range(200)]
    produced = subprocess.run([KCAT, "-b", broker.bootstrap, "-P", "-t", topic],
                              input="\n".join(lines) + "\n", text=True, capture_output=True,
                              timeout=30)
    assert produced.returncode == 0, produced.stderr
    listing = subprocess.run([KCAT, "-b", broker.bootstrap, "-L", "-t", topic],
                             text=True, capture_output=True, timeout=30)
    assert f'topic "{topic}" with 1 partitions' in listing.stdout
    assert f"broker 0 at {broker.bootstrap}" in listing.stdout
    consumed = subprocess.run([KCAT, "-b", broker.bootstrap, "-C", "-t", topic, "-o",
                               "beginning", "-e", "-q"], text=True, capture_output=True,
                              timeout=30)
    assert consumed.stdout.splitlines() == lines
    tail = subprocess.run([KCAT, "-b", broker.bootstrap, "-C", "-t", topic, "-o", "-5",
                           "-e", "-q"], text=True, capture_output=True, timeout=30)
    assert tail.stdout.splitlines() == lines[-5:]


def test_confluent_kafka_produce_consume_with_keys_and_headers(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, Producer

    topic = topic_name()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5,
                         "compression.type": "lz4", "acks": "all"})
    for i in range(3000):
        producer.produce(topic, value=f"v{i}".encode(), key=f"k{i % 7}".encode(),
                         headers=[("h", b"x")])
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "check.crcs": True})
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 3000 and time.monotonic() < deadline:
        for m in consumer.consume(500, 0.5):
            assert m.error() is None, m.error()
            got.append(m.value())
            assert m.headers() == [("h", b"x")]
    consumer.close()
    assert got == [f"v{i}".encode() for i in range(3000)]


def test_aiokafka_produce_consume_and_seek(broker: BrokerProcess) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    topic = topic_name()

    async def run() -> list[bytes]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            for i in range(500):
                await producer.send(topic, f"a{i}".encode())
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            assert (await consumer.end_offsets([tp]))[tp] == 500
            consumer.seek(tp, 250)
            got: list[bytes] = []
            while len(got) < 250:
                batch = await consumer.getmany(tp, timeout_ms=2000)
                got.extend(m.value for m in batch.get(tp, []))
            return got
        finally:
            await consumer.stop()

    assert asyncio.run(run()) == [f"a{i}".encode() for i in range(250, 500)]


def test_kafka_python_idempotent_producer_by_default(broker: BrokerProcess) -> None:
    kafka = pytest.importorskip("kafka")
    topic = topic_name()
    producer = kafka.KafkaProducer(bootstrap_servers=broker.bootstrap)  # idempotent (3.0)
    for i in range(100):
        producer.send(topic, f"p{i}".encode())
    producer.flush()
    producer.close()
    consumer = kafka.KafkaConsumer(topic, bootstrap_servers=broker.bootstrap,
                                   auto_offset_reset="earliest", consumer_timeout_ms=3000)
    got = [m.value for m in consumer]
    consumer.close()
    assert got == [f"p{i}".encode() for i in range(100)]


def test_long_poll_fetch_returns_when_data_arrives(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = topic_name()
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, b"first")
    producer.flush(10)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic,
                         "fetch.wait.max.ms": 5000, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 1)])
    assert consumer.poll(0.5) is None  # waits at the end of the log
    producer.produce(topic, b"second")
    producer.flush(10)
    m = None
    deadline = time.monotonic() + 20
    while m is None and time.monotonic() < deadline:
        m = consumer.poll(0.5)
    consumer.close()
    assert m is not None and m.value() == b"second" and m.offset() == 1
