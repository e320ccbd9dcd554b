"""Unmodified Kafka clients against a real broker process: kcat, confluent-kafka (librdkafka),
aiokafka and kafka-python produce and consume; the rest of Bazaar only ever talks to the
broker this way (``BAZAAR_KAFKA_BOOTSTRAP``), so a real Kafka cluster is a drop-in.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from tests.support.kafka_wire import request

from bazaar.broker import BrokerProcess


def topic_name() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


KCAT = shutil.which("kcat") or shutil.which("kafkacat")
# ./dev test installs kcat: its absence is a failure, never a skip.


def test_kcat_metadata_produce_consume(broker: BrokerProcess) -> None:
    assert KCAT is not None, "kcat is not installed: ./dev test installs the Debian package"
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
    import kafka
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


def test_kcat_balanced_consumer_group_commits_where_it_stopped(broker: BrokerProcess) -> None:
    assert KCAT is not None, "kcat is not installed: ./dev test installs the Debian package"
    topic = topic_name()
    subprocess.run([KCAT, "-b", broker.bootstrap, "-P", "-t", topic],
                   input="\n".join(str(i) for i in range(30)) + "\n", text=True, check=True,
                   timeout=30)
    group = ["-G", f"kg-{topic}", topic, "-e", "-q", "-X", "session.timeout.ms=6000",
             "-X", "auto.offset.reset=earliest"]
    first = subprocess.run([KCAT, "-b", broker.bootstrap, *group], text=True,
                           capture_output=True, timeout=60)
    assert first.stdout.split() == [str(i) for i in range(30)]
    subprocess.run([KCAT, "-b", broker.bootstrap, "-P", "-t", topic], input="30\n31\n",
                   text=True, check=True, timeout=30)
    second = subprocess.run([KCAT, "-b", broker.bootstrap, *group], text=True,
                            capture_output=True, timeout=60)
    assert second.stdout.split() == ["30", "31"]  # resumed from the committed offset


def test_acks_zero_gets_no_response_and_still_lands(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    topic = topic_name()
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": 0})
    for i in range(100):
        producer.produce(topic, str(i).encode())
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic})
    deadline = time.monotonic() + 10
    high = 0
    while high < 100 and time.monotonic() < deadline:
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=5)
        time.sleep(0.05)
    consumer.close()
    assert high == 100


def test_without_auto_create_unknown_topics_are_refused(tmp_path: Path) -> None:
    from confluent_kafka import KafkaError, Producer

    from bazaar.broker import run_subprocess

    with run_subprocess(tmp_path / "data", args=("--no-auto-create",)) as b:
        errors: list[KafkaError] = []
        producer = Producer({"bootstrap.servers": b.bootstrap, "message.timeout.ms": 1500})
        producer.produce("nowhere", b"x", on_delivery=lambda err, _m: errors.append(err))
        producer.flush(10)
        assert errors and errors[0] is not None
        assert errors[0].code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._MSG_TIMED_OUT)
        assert not (tmp_path / "data" / "logs" / "nowhere-0").exists()


# --- the plaintext default, on this module's broker (security: test_broker_security.py) --
def test_plaintext_default_says_so_and_refuses_sasl(broker: BrokerProcess) -> None:
    """The plain broker (the module fixture `bazaar up` also runs): its start line says
    nobody is authenticated, and a SASL handshake is answered with no mechanisms."""
    assert "PLAINTEXT (no authentication: every client may do everything)" in broker.log()
    with socket.create_connection((broker.host, broker.port), timeout=10) as sock:
        body = request(sock, 17, 1, struct.pack(">h", 5) + b"PLAIN")
        assert body == struct.pack(">hi", 33, 0)  # UNSUPPORTED_SASL_MECHANISM, []
        assert request(sock, 18, 0, b"")[:2] == b"\0\0"  # and the connection serves on


def test_acl_apis_on_a_plaintext_broker_say_security_disabled(broker: BrokerProcess) -> None:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AclBinding,
        AclOperation,
        AclPermissionType,
        AdminClient,
        ResourcePatternType,
        ResourceType,
    )

    binding = AclBinding(ResourceType.TOPIC, "t", ResourcePatternType.LITERAL, "User:x", "*",
                         AclOperation.READ, AclPermissionType.ALLOW)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})  # kept: it owns the future
    with pytest.raises(KafkaException, match="SECURITY_DISABLED"):
        admin.create_acls([binding])[binding].result(15)
