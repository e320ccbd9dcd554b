"""Transactional producers (KIP-98) against a real broker process, with unmodified clients:
librdkafka (confluent-kafka) commits, aborts, fences zombies and times out; read_committed
consumers see committed records only, each once."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from tests.support.kafka_clients import consume_all

from bazaar.broker import BrokerProcess


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _producer(bootstrap: str, txn_id: str, **extra: object) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "transactional.id": txn_id,
                     "linger.ms": 5, **extra})


def test_commit_and_abort_read_committed_sees_only_committed(broker: BrokerProcess) -> None:
    topic = _name("txn")
    producer = _producer(broker.bootstrap, _name("tid"))
    producer.init_transactions(30)
    producer.begin_transaction()
    for i in range(100):
        producer.produce(topic, value=f"c{i}".encode(), partition=0)
    producer.commit_transaction(30)
    producer.begin_transaction()
    for i in range(50):
        producer.produce(topic, value=f"a{i}".encode(), partition=0)
    producer.flush(30)
    producer.abort_transaction(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"last", partition=0)
    producer.commit_transaction(30)

    committed = consume_all(broker.bootstrap, [topic], "read_committed", expect=101)
    assert committed == [f"c{i}".encode() for i in range(100)] + [b"last"]
    everything = consume_all(broker.bootstrap, [topic], "read_uncommitted", expect=151)
    assert sorted(everything) == sorted(committed + [f"a{i}".encode() for i in range(50)])


def test_open_transaction_holds_back_read_committed_until_it_ends(
        broker: BrokerProcess) -> None:
    topic = _name("lso")
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce(topic, value=b"before", partition=0)
    plain.flush(30)
    producer = _producer(broker.bootstrap, _name("tid"))
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"in-txn", partition=0)
    producer.flush(30)
    plain.produce(topic, value=b"after", partition=0)  # past the last stable offset
    plain.flush(30)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": _name("g"),
                         "isolation.level": "read_committed", "enable.auto.commit": False})
    tp = TopicPartition(topic, 0)
    low, high = consumer.get_watermark_offsets(tp, timeout=10)
    assert (low, high) == (0, 1)  # read_committed: the end is the last stable offset
    consumer.close()
    assert consume_all(broker.bootstrap, [topic], "read_committed", expect=1,
                       idle_s=2) == [b"before"]
    producer.commit_transaction(30)
    assert consume_all(broker.bootstrap, [topic], "read_committed",
                       expect=3) == [b"before", b"in-txn", b"after"]


def test_a_new_producer_fences_the_zombie_and_aborts_its_transaction(
        broker: BrokerProcess) -> None:
    topic = _name("fence")
    txn_id = _name("tid")
    zombie = _producer(broker.bootstrap, txn_id)
    zombie.init_transactions(30)
    zombie.begin_transaction()
    zombie.produce(topic, value=b"zombie", partition=0)
    zombie.flush(30)
    successor = _producer(broker.bootstrap, txn_id)
    successor.init_transactions(30)  # bumps the epoch, aborts the zombie's transaction
    successor.begin_transaction()
    successor.produce(topic, value=b"successor", partition=0)
    successor.commit_transaction(30)
    with pytest.raises(KafkaException) as raised:
        zombie.produce(topic, value=b"zombie-2", partition=0)
        zombie.commit_transaction(30)
    assert raised.value.args[0].fatal() or raised.value.args[0].txn_requires_abort()
    assert consume_all(broker.bootstrap, [topic], "read_committed",
                       expect=1) == [b"successor"]


def test_a_transaction_past_its_timeout_is_aborted(broker: BrokerProcess) -> None:
    topic = _name("timeout")
    producer = _producer(broker.bootstrap, _name("tid"), **{"transaction.timeout.ms": 2000})
    producer.init_transactions(30)
    producer.begin_transaction()
    producer.produce(topic, value=b"late", partition=0)
    producer.flush(30)
    plain = Producer({"bootstrap.servers": broker.bootstrap})
    plain.produce(topic, value=b"other", partition=0)
    plain.flush(30)
    # the broker aborts it (no commit ever comes): the stable offset moves past it
    assert consume_all(broker.bootstrap, [topic], "read_committed", expect=1,
                       idle_s=2) == [b"other"]
    with pytest.raises(KafkaException):
        producer.commit_transaction(30)


def test_aiokafka_transactions_commit_abort_and_send_offsets(broker: BrokerProcess) -> None:
    import asyncio

    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka import TopicPartition as AioTopicPartition

    topic, group = _name("aio-txn"), _name("aio-group")

    async def go() -> tuple[list[bytes], int | None]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap,
                                    transactional_id=_name("aio-tid"))
        await producer.start()
        try:
            async with producer.transaction():
                for i in range(20):
                    await producer.send(topic, f"c{i}".encode(), partition=0)
                await producer.send_offsets_to_transaction(
                    {AioTopicPartition(topic, 0): 20}, group)
            with pytest.raises(RuntimeError):
                async with producer.transaction():
                    await producer.send_and_wait(topic, b"aborted", partition=0)
                    raise RuntimeError("the application gives up: abort")
            async with producer.transaction():
                await producer.send(topic, b"last", partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap,
                                    isolation_level="read_committed")
        await consumer.start()
        tp = AioTopicPartition(topic, 0)
        try:
            consumer.assign([tp])
            consumer.seek(tp, 0)
            got: list[bytes] = []
            for _ in range(20):
                batch = await consumer.getmany(tp, timeout_ms=1000)
                got.extend(m.value for m in batch.get(tp, []))
                if got and got[-1] == b"last":
                    break
        finally:
            await consumer.stop()
        offsets = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group,
                                   enable_auto_commit=False)
        await offsets.start()
        try:
            committed = await offsets.committed(tp)
        finally:
            await offsets.stop()
        return got, committed

    got, committed = asyncio.run(go())
    assert got == [f"c{i}".encode() for i in range(20)] + [b"last"]
    assert committed == 20  # committed with the first transaction
