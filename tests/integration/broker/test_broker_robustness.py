"""Bad input and crashes: garbage, oversized and truncated frames, unknown APIs, clients
vanishing mid-request, kill -9 while writing, flipped bytes on disk, retried batches."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.support import kafka_wire as wire
from tests.support.kafka_wire import request

from bazaar.broker import BrokerProcess, answers, run_subprocess, start_subprocess
from bazaar.broker.log import batch as rb


def connect(broker: BrokerProcess) -> socket.socket:
    return wire.connect(broker.host, broker.port)


def closed_by_peer(sock: socket.socket) -> bool:
    """Closed without a byte of answer."""
    return wire.closed_by_peer(sock, silent=True)


def still_serving(broker: BrokerProcess) -> bool:
    return broker.process.poll() is None and answers(broker.host, broker.port)


@pytest.mark.parametrize("garbage", [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # size prefix reads as ~1.2 GB
    struct.pack(">i", -5) + b"abc",
    struct.pack(">i", 3) + b"abc",  # too short for a request header
])
def test_garbage_bytes_close_that_connection_only(broker: BrokerProcess, garbage: bytes) -> None:
    bystander = connect(broker)
    request(bystander, 18, 0, b"")
    with connect(broker) as sock:
        sock.sendall(garbage)
        assert closed_by_peer(sock)
    request(bystander, 18, 0, b"", correlation_id=2)  # the other client carries on
    bystander.close()
    assert still_serving(broker)


def test_frame_over_max_request_bytes_is_refused_unread(broker: BrokerProcess) -> None:
    with connect(broker) as sock:
        sock.sendall(struct.pack(">i", 1048576 + 1) + b"\x00" * 100)
        assert closed_by_peer(sock)
    assert still_serving(broker)


def test_truncated_frame_and_vanishing_clients_leave_the_broker_serving(
        broker: BrokerProcess) -> None:
    with connect(broker) as sock:  # promises 100 bytes, sends 10, leaves
        sock.sendall(struct.pack(">i", 100) + b"\x00" * 10)
    from kafka.protocol.consumer import FetchRequest

    fetch = FetchRequest(replica_id=-1, max_wait_ms=3000, min_bytes=1, max_bytes=1 << 20,
                         isolation_level=0, topics=[])
    with connect(broker) as sock:  # a long-poll fetch whose client is gone before the answer
        body = bytes(fetch.encode(version=4))
        frame = struct.pack(">hhih", 1, 4, 1, 1) + b"x" + body
        sock.sendall(struct.pack(">i", len(frame)) + frame)
    with connect(broker) as sock:  # half a request header
        sock.sendall(struct.pack(">i", 20) + b"\x00\x03")
        sock.shutdown(socket.SHUT_WR)
    assert still_serving(broker)


@pytest.mark.parametrize(("api_key", "version", "body"), [
    (999, 0, b""),  # no such API
    (0, 99, b""),  # Produce v99
    (3, 1, struct.pack(">i", 10**6)),  # Metadata claiming a million topics
    (3, 1, struct.pack(">ih", 1, 50) + b"short"),  # string longer than the frame
])
def test_unknown_or_malformed_requests_close_the_connection(
        broker: BrokerProcess, api_key: int, version: int, body: bytes) -> None:
    with connect(broker) as sock:
        frame = struct.pack(">hhih", api_key, version, 1, 1) + b"x" + body
        sock.sendall(struct.pack(">i", len(frame)) + frame)
        assert closed_by_peer(sock)
    assert still_serving(broker)


def test_api_versions_at_an_unknown_version_answers_v0_with_error_35(
        broker: BrokerProcess) -> None:
    from kafka.protocol.metadata import ApiVersionsResponse

    with connect(broker) as sock:
        body = request(sock, 18, 7, b"\x00\x00")
    decoded = ApiVersionsResponse.decode(body, version=0)
    assert decoded.error_code == 35
    keys = {k.api_key: (k.min_version, k.max_version) for k in decoded.api_keys}
    assert keys[18] == (0, 3) and keys[1] == (4, 11)


def test_idempotent_retry_over_the_wire_is_not_duplicated(broker: BrokerProcess) -> None:
    from kafka.protocol.producer import InitProducerIdResponse, ProduceResponse

    topic = "idem"
    with connect(broker) as sock:
        pid_body = request(sock, 22, 0, struct.pack(">hi", -1, 60000))
        pid = InitProducerIdResponse.decode(pid_body, version=0).producer_id
        assert pid >= 0
        request(sock, 3, 1, struct.pack(">ih", 1, len(topic)) + topic.encode())  # create
        offsets = []
        for batch_seq, values in ((0, [b"a", b"b"]), (2, [b"c"]), (2, [b"c"]), (0, [b"a", b"b"])):
            records = rb.build([(None, v) for v in values], producer_id=pid, producer_epoch=0,
                               base_sequence=batch_seq)
            body = (struct.pack(">hhi", -1, -1, 5000) + struct.pack(">ih", 1, len(topic))
                    + topic.encode() + struct.pack(">iii", 1, 0, len(records)) + records)
            resp = ProduceResponse.decode(request(sock, 0, 3, body), version=3)
            part = resp.responses[0].partition_responses[0]
            assert part.error_code == 0
            offsets.append(part.base_offset)
        gap = rb.build([(None, b"z")], producer_id=pid, producer_epoch=0, base_sequence=9)
        body = (struct.pack(">hhi", -1, -1, 5000) + struct.pack(">ih", 1, len(topic))
                + topic.encode() + struct.pack(">iii", 1, 0, len(gap)) + gap)
        resp = ProduceResponse.decode(request(sock, 0, 3, body), version=3)
        assert resp.responses[0].partition_responses[0].error_code == 45  # out of order
    assert offsets == [0, 2, 2, 0]  # the retries got their original offsets back
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "idem"})
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    consumer.close()
    assert (low, high) == (0, 3)


def test_corrupt_records_in_produce_are_refused_and_nothing_is_written(
        broker: BrokerProcess) -> None:
    from kafka.protocol.producer import ProduceResponse

    topic = "corrupt"
    good = rb.build([(None, b"fine")])
    bad = bytearray(good)
    bad[-1] ^= 0xFF
    with connect(broker) as sock:
        request(sock, 3, 1, struct.pack(">ih", 1, len(topic)) + topic.encode())
        codes = []
        for records in (bytes(bad), good):
            body = (struct.pack(">hhi", -1, 1, 5000) + struct.pack(">ih", 1, len(topic))
                    + topic.encode() + struct.pack(">iii", 1, 0, len(records)) + records)
            part = ProduceResponse.decode(request(sock, 0, 3, body), version=3) \
                .responses[0].partition_responses[0]
            codes.append((part.error_code, part.base_offset))
    assert codes == [(2, -1), (0, 0)]  # CORRUPT_MESSAGE, then the good batch at offset 0


def _produce_until_killed(first: BrokerProcess) -> list[int]:
    """Produce with acks=all until 3000 are acknowledged, then kill -9 the broker mid-stream:
    return what was acknowledged."""
    from confluent_kafka import Producer

    acked: list[int] = []
    lock = threading.Lock()

    def on_delivery(err: Any, msg: Any) -> None:
        if err is None:
            with lock:
                acked.append(int(msg.value()))

    producer = Producer({"bootstrap.servers": first.bootstrap, "acks": "all", "linger.ms": 1,
                         "message.timeout.ms": 3000, "retries": 0,
                         "enable.idempotence": False})
    i = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(producer) > 2000:  # keep a bounded number in flight
            producer.poll(0.01)
            continue
        producer.produce("durable", str(i).encode(), on_delivery=on_delivery)
        i += 1
        producer.poll(0)
        with lock:
            if len(acked) >= 3000:
                break
    first.kill()  # kill -9 mid-stream: unacknowledged batches may be lost, acked ones not
    producer.flush(5)
    with lock:
        return list(acked)


def test_kill_9_while_producing_loses_no_acknowledged_message(tmp_path: Path) -> None:
    from confluent_kafka import Consumer, TopicPartition

    data = tmp_path / "data"
    args = ("--flush", "batch", "--segment-bytes", "65536")
    first = start_subprocess(data, args=args)
    try:
        confirmed = _produce_until_killed(first)
    finally:
        first.kill()
    assert len(confirmed) >= 3000
    segments = sorted((data / "logs" / "durable-0").glob("*.log"))
    with segments[-1].open("ab") as f:  # and a torn write at the tail, as after power loss
        f.write(rb.build([(None, b"torn" * 50)])[:70])
    with run_subprocess(data, args=args) as second:
        assert "recovery truncated durable-0" in second.log()
        consumer = Consumer({"bootstrap.servers": second.bootstrap, "group.id": "check",
                             "enable.auto.commit": False})
        _low, high = consumer.get_watermark_offsets(TopicPartition("durable", 0), timeout=10)
        consumer.assign([TopicPartition("durable", 0, 0)])
        got: list[int] = []
        end = time.monotonic() + 30
        while len(got) < high and time.monotonic() < end:
            for m in consumer.consume(1000, 0.5):
                assert m.error() is None
                got.append(int(m.value()))
        consumer.close()
    assert got == sorted(got) and len(set(got)) == len(got), "in order, no duplicates"
    assert set(confirmed) <= set(got), "every acknowledged message survived"


def test_flipped_byte_in_a_segment_is_detected_and_reported(tmp_path: Path) -> None:
    from confluent_kafka import Producer

    data = tmp_path / "data"
    with run_subprocess(data, args=("--segment-bytes", "4096")) as broker:
        producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
        for i in range(200):
            producer.produce("flip", f"value-{i:05d}".encode() * 4)
            if i % 10 == 9:
                assert producer.flush(10) == 0  # many batches: several segments
    verify = [sys.executable, "-m", "bazaar.commands.broker", "verify", "--data-dir", str(data)]
    clean = subprocess.run(verify, capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0 and "all batches intact" in clean.stdout
    first = sorted((data / "logs" / "flip-0").glob("*.log"))[0]
    raw = bytearray(first.read_bytes())
    raw[rb.HEADER_SIZE + 10] ^= 0x20  # one bit, inside the first batch's records
    first.write_bytes(bytes(raw))
    dirty = subprocess.run(verify, capture_output=True, text=True, timeout=60)
    assert dirty.returncode == 1
    assert f"flip-0: {first.name} byte 0: CRC32C mismatch" in dirty.stdout
    assert first.read_bytes() == bytes(raw), "verify changes nothing"
    with run_subprocess(data) as broker:  # a sealed segment is not rescanned: still serving
        assert answers(broker.host, broker.port)
