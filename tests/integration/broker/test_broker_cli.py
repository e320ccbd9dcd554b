"""``bazaar broker topics|groups`` against a running broker, and its Prometheus metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bazaar.broker import BrokerProcess, run_subprocess
from bazaar.processes import free_port


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bazaar.commands.broker", *args],
                          capture_output=True, text=True, timeout=60)


def test_topics_create_ls_describe_rm(broker: BrokerProcess) -> None:
    b = ("--bootstrap", broker.bootstrap)
    created = cli("topics", "create", "payments", "--partitions", "3", *b)
    assert created.returncode == 0, created.stderr
    again = cli("topics", "create", "payments", "--partitions", "3", *b)
    assert again.returncode == 1 and "error 36" in again.stderr  # TOPIC_ALREADY_EXISTS
    bad = cli("topics", "create", "no/slashes", *b)
    assert bad.returncode == 1 and "error 17" in bad.stderr  # INVALID_TOPIC_EXCEPTION
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for i in range(9):
        producer.produce("payments", b"x", partition=i % 3)
    assert producer.flush(10) == 0
    listed = cli("topics", "ls", *b)
    assert listed.returncode == 0 and "payments" in listed.stdout
    described = cli("topics", "describe", "payments", *b)
    assert described.returncode == 0
    # Piped: a title, a header, then one tab-separated row per partition.
    lines = described.stdout.splitlines()
    assert lines[:2] == ["# payments", "partition\tstart offset\tend offset\tmessages"]
    assert [line.split("\t") for line in lines[2:]] == [[str(p), "0", "3", "3"]
                                                         for p in range(3)]
    as_json = json.loads(cli("topics", "ls", "--json", *b).stdout)
    assert {"name": "payments", "messages": 9} in [
        {"name": t["name"], "messages": t["messages"]} for t in as_json]
    removed = cli("topics", "rm", "payments", *b)
    assert removed.returncode == 0
    assert "payments" not in cli("topics", "ls", *b).stdout
    missing = cli("topics", "describe", "payments", *b)
    assert missing.returncode == 1


def test_groups_ls_and_describe_show_members_and_lag(broker: BrokerProcess) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": broker.bootstrap})
    for _ in range(10):
        producer.produce("lagging", b"x")
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "auditors",
                         "client.id": "auditor-1", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe(["lagging"])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2)
    consumer.commit(offsets=[TopicPartition("lagging", 0, 4)], asynchronous=False)
    try:
        b = ("--bootstrap", broker.bootstrap)
        listed = cli("groups", "ls", *b)
        assert "auditors" in listed.stdout.split()
        described = cli("groups", "describe", "auditors", *b)
        assert described.returncode == 0, described.stderr
        assert "Stable" in described.stdout and "total lag 6" in described.stdout
        assert "auditor-1" in described.stdout and "lagging-0" in described.stdout
        group = json.loads(cli("groups", "describe", "auditors", "--json", *b).stdout)
        assert group["lag"] == 6 and group["members"][0]["client_id"] == "auditor-1"
        assert "auditors" in json.loads(cli("groups", "ls", "--json", *b).stdout)
    finally:
        consumer.close()


def test_metrics_endpoint_counts_requests_bytes_and_lag(tmp_path: Path) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition

    port = free_port()
    with run_subprocess(tmp_path / "data", args=("--metrics-port", str(port))) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        for _ in range(5):
            producer.produce("m", b"12345")
        assert producer.flush(10) == 0
        consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "mg"})
        consumer.commit(offsets=[TopicPartition("m", 0, 2)], asynchronous=False)
        consumer.close()
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) \
            .read().decode()
    assert 'bazaar_broker_requests_total{api="Produce"}' in text
    assert 'bazaar_broker_group_lag{group="mg",partition="0",topic="m"} 3.0' in text
    assert "bazaar_broker_produce_latency_seconds_count" in text
    bytes_in = next(line for line in text.splitlines()
                    if line.startswith("bazaar_broker_bytes_in_total"))
    assert float(bytes_in.split()[-1]) > 25
    counters = {line.split()[0]: float(line.split()[-1]) for line in text.splitlines()
                if line.startswith("bazaar_broker_group_commit_")}
    # librdkafka's default is acks=all: each produce was acked after a group commit
    assert counters["bazaar_broker_group_commit_requests_total"] >= 1
    assert 1 <= counters["bazaar_broker_group_commit_rounds_total"] <= \
        counters["bazaar_broker_group_commit_requests_total"]


@pytest.mark.parametrize(("args", "message"), [
    (("--partitions", "0"), "default_partitions"),
    (("--segment-bytes", "5"), "segment_bytes"),
    (("--flush", "never"), "flush must be"),
])
def test_serve_refuses_bad_options_with_one_line(tmp_path: Path, args: tuple[str, ...],
                                                 message: str) -> None:
    result = cli("serve", "--data-dir", str(tmp_path / "d"), "--port", "0", *args)
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and message in result.stderr
    assert not (tmp_path / "d").exists()  # nothing created
