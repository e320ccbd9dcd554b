"""Admin APIs with the clients' own admin interfaces: CreatePartitions (confluent-kafka's
AdminClient and aiokafka's admin) and DeleteGroups (confluent-kafka; aiokafka's admin has
no delete-groups call)."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions
from tests.support.kafka_clients import create_topics

from bazaar.broker import BrokerProcess, start_subprocess


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _partitions(admin: AdminClient, topic: str) -> int:
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def test_create_partitions_with_confluent_admin(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic = _name("grow")
    create_topics(broker.bootstrap, 1, topic)
    admin.create_partitions([NewPartitions(topic, 3)], validate_only=True)[topic].result(30)
    assert _partitions(admin, topic) == 1  # validate_only changes nothing
    admin.create_partitions([NewPartitions(topic, 3)])[topic].result(30)
    assert _partitions(admin, topic) == 3
    for bad, code in ((NewPartitions(topic, 2), KafkaError.INVALID_PARTITIONS),
                      (NewPartitions(_name("none"), 2), KafkaError.UNKNOWN_TOPIC_OR_PART)):
        with pytest.raises(KafkaException) as raised:
            admin.create_partitions([bad])[bad.topic].result(30)
        assert raised.value.args[0].code() == code
    producer = Producer({"bootstrap.servers": broker.bootstrap})
    producer.produce(topic, b"in the new partition", partition=2)
    assert producer.flush(30) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": _name("g")})
    consumer.assign([TopicPartition(topic, 2, 0)])
    msg = None
    deadline = time.monotonic() + 30
    while msg is None and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
    consumer.close()
    assert msg is not None and msg.value() == b"in the new partition"


def test_create_partitions_with_aiokafka_admin(broker: BrokerProcess) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin import NewPartitions as AioNewPartitions

    topic = _name("aio-grow")
    create_topics(broker.bootstrap, 2, topic)

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.create_partitions({topic: AioNewPartitions(total_count=5)})
            described = await admin.describe_topics([topic])
            assert len(described[0]["partitions"]) == 5
        finally:
            await admin.close()

    asyncio.run(go())


def test_delete_groups_with_confluent_admin(broker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic, idle, active = _name("dg"), _name("idle"), _name("active")
    create_topics(broker.bootstrap, 1, topic)
    committer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": idle})
    committer.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    committer.close()
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": active,
                       "auto.offset.reset": "earliest"})
    member.subscribe([topic])
    deadline = time.monotonic() + 30
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(0.2)
    assert member.assignment()
    try:
        results = admin.delete_consumer_groups([idle, active, _name("never")],
                                               request_timeout=30)
        results[idle].result(30)
        errors = {}
        for group in (active, *[g for g in results if g not in (idle, active)]):
            with pytest.raises(KafkaException) as raised:
                results[group].result(30)
            errors[group] = raised.value.args[0].code()
        assert errors[active] == KafkaError.NON_EMPTY_GROUP
        assert KafkaError.GROUP_ID_NOT_FOUND in errors.values()
    finally:
        member.close()
    check = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": idle})
    committed = check.committed([TopicPartition(topic, 0)], timeout=10)
    check.close()
    assert committed[0].offset < 0  # the deleted group's offsets are gone
    listed = {g.group_id for g in admin.list_consumer_groups().result(30).valid}
    assert idle not in listed and active in listed


def _configs(admin: AdminClient, topic: str) -> dict[str, str]:
    from confluent_kafka.admin import ConfigResource

    resource = ConfigResource("TOPIC", topic)
    return {k: v.value for k, v in admin.describe_configs([resource])[resource].result(30)
            .items()}


def test_topic_configs_described_altered_live_and_kept_across_restart(
        tmp_path: Path) -> None:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    data = tmp_path / "data"
    topic = "configured"
    broker = start_subprocess(data)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        create_topics(broker.bootstrap, 1, topic)
        before = _configs(admin, topic)
        assert before["cleanup.policy"] == "delete" and before["segment.bytes"] == str(256 << 20)
        resource = ConfigResource("TOPIC", topic, incremental_configs=[
            ConfigEntry("segment.bytes", "4096",
                        incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("retention.ms", "3600000",
                        incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([resource])[resource].result(30)
        assert _configs(admin, topic)["segment.bytes"] == "4096"
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        for _ in range(40):  # ~40 KB in 1 KB batches: rolls at the new size, live
            producer.produce(topic, b"x" * 1000, partition=0)
            producer.flush(10)
        segments = list((data / "logs" / f"{topic}-0").glob("*.log"))
        assert len(segments) >= 5
        for name, value in (("cleanup.policy", "shred"), ("segment.bytes", "many"),
                            ("no.such.config", "1")):
            bad = ConfigResource("TOPIC", topic, incremental_configs=[ConfigEntry(
                name, value, incremental_operation=AlterConfigOpType.SET)])
            with pytest.raises(KafkaException) as raised:
                admin.incremental_alter_configs([bad])[bad].result(30)
            assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG, name
        assert _configs(admin, topic)["segment.bytes"] == "4096"  # nothing changed
        missing = ConfigResource("TOPIC", "no-such-topic")
        with pytest.raises(KafkaException) as raised:
            admin.describe_configs([missing])[missing].result(30)
        assert raised.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        broker.kill()
        broker = start_subprocess(data, broker.port)
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        kept = _configs(admin, topic)
        assert (kept["segment.bytes"], kept["retention.ms"]) == ("4096", "3600000")
        # AlterConfigs (not incremental) replaces the whole set: unnamed ones go back
        whole = ConfigResource("TOPIC", topic, set_config={"retention.ms": "60000"})
        with pytest.warns(DeprecationWarning):  # the client prefers the incremental API
            admin.alter_configs([whole])[whole].result(30)
        after = _configs(admin, topic)
        assert (after["segment.bytes"], after["retention.ms"]) == (str(256 << 20), "60000")
    finally:
        broker.kill()


def test_topic_configs_with_aiokafka_admin(broker: BrokerProcess) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    topic = _name("aio-cfg")
    create_topics(broker.bootstrap, 1, topic)

    async def go() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await admin.start()
        try:
            await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic,
                                                      {"retention.bytes": "1048576"})])
            described = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)])
            resources = described[0].to_object()["resources"]
            return {c["config_names"]: c["config_value"] for c in resources[0]["config_entries"]}
        finally:
            await admin.close()

    assert asyncio.run(go())["retention.bytes"] == "1048576"


def test_list_groups_v4_reports_states_and_filters_by_them(broker: BrokerProcess) -> None:
    from confluent_kafka import ConsumerGroupState

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topic, idle, active = _name("lg"), _name("idle"), _name("active")
    create_topics(broker.bootstrap, 1, topic)
    committer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": idle})
    committer.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    committer.close()
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": active})
    member.subscribe([topic])
    deadline = time.monotonic() + 30
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(0.2)
    try:
        listed = {g.group_id: g.state for g in admin.list_consumer_groups().result(30).valid}
        assert listed[idle] == ConsumerGroupState.EMPTY
        assert listed[active] == ConsumerGroupState.STABLE
        stable = admin.list_consumer_groups(states={ConsumerGroupState.STABLE}).result(30)
        names = {g.group_id for g in stable.valid}
        assert active in names and idle not in names
    finally:
        member.close()


def test_describe_cluster_with_both_admins(broker: BrokerProcess) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster(request_timeout=30).result(30)
    assert cluster.cluster_id == "bazaar-log"
    assert cluster.controller is not None and cluster.controller.id == 0
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(0, broker.host, broker.port)]

    async def go() -> dict[str, object]:
        aio = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await aio.start()
        try:
            return await aio.describe_cluster()
        finally:
            await aio.close()

    described = asyncio.run(go())  # aiokafka answers this from Metadata, not key 60
    assert described["cluster_id"] == "bazaar-log"
    assert described["controller_id"] == 0


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_list_offsets_by_timestamp_finds_the_record_inside_a_batch(
        broker: BrokerProcess, compression: str) -> None:
    from aiokafka import AIOKafkaConsumer
    from aiokafka import TopicPartition as AioTopicPartition
    from confluent_kafka.admin import OffsetSpec

    topic = _name(f"ts-{compression}")
    create_topics(broker.bootstrap, 1, topic)
    base = 1_700_000_000_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 200,
                         "compression.type": compression})
    for i in range(10):  # one batch: ten records, a second apart
        producer.produce(topic, f"r{i}".encode(), partition=0, timestamp=base + 1000 * i)
    assert producer.flush(30) == 0
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    tp = TopicPartition(topic, 0)
    queries = {base + 4500: (5, base + 5000), base: (0, base), base + 10**6: (-1, -1)}
    for ts, expected in queries.items():
        info = admin.list_offsets({tp: OffsetSpec.for_timestamp(ts)})[tp].result(30)
        assert (info.offset, info.timestamp) == expected, ts

    async def go() -> tuple[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
        await consumer.start()
        try:
            atp = AioTopicPartition(topic, 0)
            found = (await consumer.offsets_for_times({atp: base + 7200}))[atp]
            assert found is not None
            return found.offset, found.timestamp
        finally:
            await consumer.stop()

    assert asyncio.run(go()) == (8, base + 8000)


def test_delete_records_with_both_admins(broker: BrokerProcess) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
    from aiokafka.structs import TopicPartition as AioTopicPartition

    topic = _name("dr")
    create_topics(broker.bootstrap, 1, topic)
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for i in range(10):
        producer.produce(topic, f"r{i}".encode(), partition=0)
        producer.flush(10)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    tp = TopicPartition(topic, 0, 4)
    deleted = admin.delete_records([tp])[tp].result(30)
    assert deleted.low_watermark == 4
    too_far = TopicPartition(topic, 0, 50)
    with pytest.raises(KafkaException) as raised:
        admin.delete_records([too_far])[too_far].result(30)
    assert raised.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": _name("g"),
                         "auto.offset.reset": "earliest"})
    assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (4, 10)
    consumer.subscribe([topic])
    got: list[bytes] = []
    deadline = time.monotonic() + 30
    while len(got) < 6 and time.monotonic() < deadline:
        got.extend(m.value() for m in consumer.consume(10, 0.5) if m.error() is None)
    consumer.close()
    assert got == [f"r{i}".encode() for i in range(4, 10)]

    async def go() -> None:
        aio = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await aio.start()
        try:
            result = await aio.delete_records(
                {AioTopicPartition(topic, 0): RecordsToDelete(before_offset=7)})
            assert result[AioTopicPartition(topic, 0)] == 7
        finally:
            await aio.close()

    asyncio.run(go())


def test_offset_delete_with_kafka_python_admin(broker: BrokerProcess) -> None:
    import kafka
    from kafka.admin import KafkaAdminClient
    from kafka.errors import GroupIdNotFoundError, GroupSubscribedToTopicError, NoError

    watched, other, group = _name("od-a"), _name("od-b"), _name("od-g")
    create_topics(broker.bootstrap, 1, watched, other)
    member = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    member.subscribe([watched])
    deadline = time.monotonic() + 30
    while not member.assignment() and time.monotonic() < deadline:
        member.poll(0.2)
    member.commit(offsets=[TopicPartition(watched, 0, 3), TopicPartition(other, 0, 5)],
                  asynchronous=False)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        result = admin.delete_group_offsets(group, [kafka.TopicPartition(watched, 0),
                                                    kafka.TopicPartition(other, 0)])
        assert result[kafka.TopicPartition(watched, 0)] is GroupSubscribedToTopicError
        assert result[kafka.TopicPartition(other, 0)] is NoError
        committed = member.committed([TopicPartition(watched, 0), TopicPartition(other, 0)],
                                     timeout=10)
        assert committed[0].offset == 3 and committed[1].offset < 0
        with pytest.raises(GroupIdNotFoundError):
            admin.delete_group_offsets(_name("nobody"), [kafka.TopicPartition(other, 0)])
    finally:
        admin.close()
        member.close()
