"""Compacted topics with unmodified clients: created and altered by confluent-kafka's
AdminClient, written by its Producer, read from offset 0 by its Consumer and by kcat (offsets
non-contiguous, every key's latest value present at the offset it was written to), tombstones
gone after delete.retention.ms, and a broker killed -9 mid-clean recovers a readable log."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from bazaar.broker import BrokerProcess, run_subprocess, start_subprocess
from bazaar.processes import eventually

ARGS = ("--cleaner-interval-ms", "100", "--rebalance-delay-ms", "100")
COMPACTED = {"cleanup.policy": "compact", "segment.bytes": "2048",
             "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "2000"}


@pytest.fixture(scope="module")
def cbroker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with run_subprocess(tmp_path_factory.mktemp("compact") / "data", args=ARGS) as process:
        yield process


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _produce(bootstrap: str, topic: str, items: list[tuple[bytes, bytes | None]]
             ) -> dict[bytes, tuple[int, bytes | None]]:
    """Produce in order, in small batches (so small segments roll); key -> (offset, value)
    of its latest write."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0,
                         "enable.idempotence": True, "batch.num.messages": 10})
    latest: dict[bytes, tuple[int, bytes | None]] = {}

    def done(err: KafkaError | None, msg: object) -> None:
        assert err is None, err
        latest[msg.key()] = (msg.offset(), msg.value())  # type: ignore[attr-defined]

    for key, value in items:
        producer.produce(topic, value, key=key, partition=0, on_delivery=done)
        producer.poll(0)
    assert producer.flush(30) == 0
    return latest


def _consume(bootstrap: str, topic: str) -> list[tuple[int, bytes | None, bytes | None]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": _name("g"),
                         "enable.partition.eof": True, "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    out: list[tuple[int, bytes | None, bytes | None]] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    return out
                raise KafkaException(msg.error())
            out.append((msg.offset(), msg.key(), msg.value()))
    finally:
        consumer.close()
    raise AssertionError("no end of partition within 60 s")


def _kcat(bootstrap: str, topic: str) -> list[tuple[int, bytes, bytes | None]]:
    done = subprocess.run(
        ["kcat", "-b", bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
         "-q", "-Z", "-f", "%o\t%k\t%S\t%s\n"],
        capture_output=True, timeout=60, check=True)
    out: list[tuple[int, bytes, bytes | None]] = []
    for line in done.stdout.splitlines():
        offset, key, size, value = line.split(b"\t", 3)
        out.append((int(offset), key, None if size == b"-1" else value))
    return out


def _clean_upto(data_dir: Path, topic: str) -> int:
    try:
        ranges = json.loads((data_dir / "logs" / f"{topic}-0" / "cleaner.json").read_text())
    except (OSError, ValueError):
        return 0
    return int(ranges["ranges"][-1][0]) if ranges["ranges"] else 0


def _check(records: list[tuple[int, bytes | None, bytes | None]], upto: int,
           latest: dict[bytes, tuple[int, bytes | None]], end: int) -> None:
    offsets = [o for o, _k, _v in records]
    assert offsets == sorted(set(offsets))
    assert len(offsets) < end  # gaps: superseded records are gone, their offsets too
    assert offsets[-1] == end - 1
    seen = {(o, k, v) for o, k, v in records}
    for key, (offset, value) in latest.items():
        if value is not None:
            assert (offset, key, value) in seen  # the latest value, at its own offset
    cleaned_keys = [k for o, k, _v in records if o < upto]
    assert len(cleaned_keys) == len(set(cleaned_keys))  # one record per key where cleaned


def test_compacted_topic_read_by_confluent_and_kcat(cbroker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": cbroker.bootstrap})
    topic = _name("state")
    admin.create_topics([NewTopic(topic, 1, 1, config=COMPACTED)])[topic].result(30)
    items = [(b"key-%02d" % (i % 20), b"value-%04d" % i) for i in range(600)]
    items += [(b"key-%02d" % k, None) for k in range(5)]  # tombstones for five keys
    items += [(b"filler-%d" % (i % 3), b"x" * 50) for i in range(120)]  # seal the segments
    latest = _produce(cbroker.bootstrap, topic, items)
    end = len(items)
    upto = eventually(lambda: _clean_upto(cbroker.data_dir, topic) > 600 and
                      _clean_upto(cbroker.data_dir, topic), timeout=60,
                      what="the cleaner to pass the tombstones")
    for records in (_consume(cbroker.bootstrap, topic), _kcat(cbroker.bootstrap, topic)):
        _check(records, upto, latest, end)
    # past delete.retention.ms (2 s) after their first compaction the tombstones go
    gone = {b"key-%02d" % k for k in range(5)}

    def tombstones_removed() -> bool:
        return not gone & {k for _o, k, _v in _kcat(cbroker.bootstrap, topic)}

    eventually(tombstones_removed, timeout=60, interval=0.5, what="tombstones removed")
    records = _consume(cbroker.bootstrap, topic)
    assert {k for _o, k, _v in records} == {k for k, (_o, v) in latest.items()
                                            if v is not None}
    described = admin.describe_configs([ConfigResource("TOPIC", topic)])
    configs = next(iter(described.values())).result(30)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["min.cleanable.dirty.ratio"].value == "0.01"


def test_compaction_switched_on_live_and_bad_policies_refused(cbroker: BrokerProcess) -> None:
    admin = AdminClient({"bootstrap.servers": cbroker.bootstrap})
    topic = _name("live")
    admin.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": "2048"})])[
        topic].result(30)
    latest = _produce(cbroker.bootstrap, topic,
                      [(b"k%d" % (i % 7), b"v%d" % i) for i in range(400)])
    time.sleep(0.5)  # several cleaner intervals: a delete-policy topic is never cleaned
    assert _clean_upto(cbroker.data_dir, topic) == 0
    resource = ConfigResource("TOPIC", topic, incremental_configs=[
        ConfigEntry("cleanup.policy", "compact,delete",
                    incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("min.cleanable.dirty.ratio", "0.01",
                    incremental_operation=AlterConfigOpType.SET)])
    admin.incremental_alter_configs([resource])[resource].result(30)
    upto = eventually(lambda: _clean_upto(cbroker.data_dir, topic), timeout=60,
                      what="the first pass after the policy changed")
    _check(_kcat(cbroker.bootstrap, topic), upto, latest, 400)
    for bad in ({"cleanup.policy": "shred"}, {"min.cleanable.dirty.ratio": "2"},
                {"delete.retention.ms": "-5"}):
        name = _name("bad")
        with pytest.raises(KafkaException) as raised:
            admin.create_topics([NewTopic(name, 1, 1, config=bad)])[name].result(30)
        assert raised.value.args[0].code() == KafkaError.INVALID_CONFIG, bad
        assert name not in admin.list_topics(timeout=10).topics


def test_kill_9_mid_clean_leaves_a_readable_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    broker = start_subprocess(data, args=("--cleaner-interval-ms", "20"))
    topic = _name("crash")
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        admin.create_topics([NewTopic(topic, 1, 1, config={
            **COMPACTED, "segment.bytes": "16384"})])[topic].result(30)
        for round_ in range(3):
            items = [(b"k%03d" % (i % 150), b"r%d-%d" % (round_, i) * 8) for i in range(2000)]
            latest.update(_produce(broker.bootstrap, topic, items))
            time.sleep(0.05 * (round_ + 1))  # the cleaner is busy with what just rolled
            broker.kill()
            broker = start_subprocess(data, broker.port, args=("--cleaner-interval-ms", "20"))
            verify = subprocess.run([sys.executable, "-m", "bazaar", "broker", "verify",
                                     "--data-dir", str(data)], capture_output=True, timeout=120)
            assert verify.returncode == 0, verify.stdout + verify.stderr
            records = _kcat(broker.bootstrap, topic)
            _check(records, _clean_upto(data, topic), latest, 2000 * (round_ + 1))
        assert "recovery truncated" not in broker.log()
    finally:
        broker.stop()
