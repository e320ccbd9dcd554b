"""Limits before buffering, tested with the attacks over raw sockets against a real process:
frames claiming 60 MB, many connections each sending most of a large frame and stopping,
a frame header and then silence, more connections than allowed. The broker stays up, its
memory stays bounded by the request pool and comes back after close, and other clients
keep working."""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bazaar.broker import BrokerProcess, run_subprocess
from bazaar.processes import eventually

MB = 1_000_000
POOL = 12 * 1024 * 1024
ARGS = ("--max-request-bytes", str(4 * 1024 * 1024), "--queued-max-request-bytes", str(POOL),
        "--request-timeout-ms", "1500", "--max-connections", "40")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerProcess]:
    with run_subprocess(tmp_path_factory.mktemp("limits") / "data", args=ARGS) as process:
        yield process


def rss_mb(broker: BrokerProcess) -> float:
    for line in Path(f"/proc/{broker.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def api_versions(sock: socket.socket, correlation_id: int = 7) -> int:
    """Send ApiVersions v0 and return the error code of the answer."""
    frame = struct.pack(">hhih", 18, 0, correlation_id, 1) + b"b"
    sock.sendall(struct.pack(">i", len(frame)) + frame)
    head = recv_exactly(sock, 8)
    size, cid = struct.unpack(">ii", head)
    assert cid == correlation_id
    body = recv_exactly(sock, size - 4)
    return int(struct.unpack(">h", body[:2])[0])


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def closed_by_peer(sock: socket.socket) -> bool:
    sock.setblocking(True)
    sock.settimeout(15)
    try:
        while chunk := sock.recv(1 << 16):
            del chunk
        return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def produce_and_consume(broker: BrokerProcess, topic: str, n: int = 50) -> list[bytes]:
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 1})
    for i in range(n):
        producer.produce(topic, f"{i}".encode())
    assert producer.flush(20) == 0
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": topic,
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got: list[bytes] = []
    deadline = time.monotonic() + 20
    while len(got) < n and time.monotonic() < deadline:
        got.extend(m.value() for m in consumer.consume(n, 0.5) if m.error() is None)
    consumer.close()
    return got


def test_frames_claiming_60_mb_are_refused_unread(broker: BrokerProcess) -> None:
    before = rss_mb(broker)
    socks = []
    for _ in range(4):
        sock = socket.create_connection((broker.host, broker.port), timeout=10)
        sock.sendall(struct.pack(">ihhih", 60 * MB, 0, 3, 1, 1) + b"x" * 65536)
        socks.append(sock)
    for sock in socks:
        assert closed_by_peer(sock)
        sock.close()
    assert rss_mb(broker) < before + 5
    assert produce_and_consume(broker, "after-claims") == [f"{i}".encode() for i in range(50)]


class HalfSender:
    """A raw connection that sends all but the last 100 bytes of a Produce frame."""

    def __init__(self, broker: BrokerProcess, claim: int) -> None:
        self.sock = socket.create_connection((broker.host, broker.port), timeout=10)
        self.sock.sendall(struct.pack(">ihhih", claim, 0, 3, 1, 1) + b"x")
        self.sock.setblocking(False)
        self.goal = claim - 100
        self.sent = 11

    def push(self, chunk: bytes) -> None:
        if self.sent < self.goal:  # BlockingIOError: the broker is not reading this one
            with contextlib.suppress(BlockingIOError):
                self.sent += self.sock.send(chunk[:self.goal - self.sent])


def test_many_half_sent_large_frames_hold_at_most_the_pool(broker: BrokerProcess) -> None:
    """Sixteen connections each send all but 100 bytes of a 4 MB Produce frame (64 MB in
    all) and stop. At most the pool's 12 MiB is read (three frames); the rest wait unread in
    the kernel. A bystander's small requests are answered meanwhile; the request timeout
    then closes the attackers and their memory comes back."""
    baseline = rss_mb(broker)
    senders = [HalfSender(broker, 4 * MB) for _ in range(16)]
    chunk = b"\0" * 65536
    deadline = time.monotonic() + 8  # bounded: most senders block for good
    while time.monotonic() < deadline and any(s.sent < s.goal for s in senders):
        for sender in senders:
            sender.push(chunk)
    assert sum(s.sent == s.goal for s in senders) >= 3, [s.sent for s in senders]
    grew = rss_mb(broker) - baseline
    assert grew < POOL / 2**20 + 12, f"RSS grew {grew:.0f} MB for 64 MB sent"
    with socket.create_connection((broker.host, broker.port), timeout=10) as bystander:
        assert api_versions(bystander) == 0  # control traffic passes a full pool
    for sender in senders:
        assert closed_by_peer(sender.sock), "closed by the request timeout"
        sender.sock.close()
    # Given back: a second wave as large as the first must fit in the same bound. (RSS alone
    # need not fall: the allocator may keep freed pages for reuse, which is what we rely on.)
    again = [HalfSender(broker, 4 * MB) for _ in range(16)]
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and any(s.sent < s.goal for s in again):
        for sender in again:
            sender.push(chunk)
    grew_again = rss_mb(broker) - baseline
    assert grew_again < POOL / 2**20 + 12, f"RSS grew {grew_again:.0f} MB after two waves"
    for sender in again:
        sender.sock.close()
    assert produce_and_consume(broker, "after-pool") == [f"{i}".encode() for i in range(50)]
    assert "still incomplete" in broker.log()


def test_a_frame_header_then_silence_is_closed_after_the_request_timeout(
        broker: BrokerProcess) -> None:
    with socket.create_connection((broker.host, broker.port), timeout=10) as sock:
        sock.sendall(struct.pack(">ihh", 100, 18, 0))
        assert closed_by_peer(sock), "closed by the 1.5 s request timeout, not the 10 min idle"
    with socket.create_connection((broker.host, broker.port), timeout=10) as sock:
        assert api_versions(sock) == 0


def test_control_requests_have_a_small_limit(broker: BrokerProcess) -> None:
    """A Metadata frame of 2 MiB is refused before its body although Produce may be 4 MiB."""
    with socket.create_connection((broker.host, broker.port), timeout=10) as sock:
        sock.sendall(struct.pack(">ihh", 2 * 1024 * 1024, 3, 1))
        assert closed_by_peer(sock)
    assert "for API key 3" in broker.log()


def test_connections_over_the_cap_are_refused_and_the_rest_keep_working(
        tmp_path: Path) -> None:
    with run_subprocess(tmp_path / "data", args=("--max-connections", "3")) as broker:
        held = [socket.create_connection((broker.host, broker.port), timeout=10)
                for _ in range(3)]
        for k, sock in enumerate(held):
            assert api_versions(sock, k) == 0  # accepted and served
        extra = socket.create_connection((broker.host, broker.port), timeout=10)
        assert closed_by_peer(extra)
        extra.close()
        assert api_versions(held[0], 9) == 0  # the admitted ones carry on
        held.pop().close()

        def admitted() -> bool:
            with socket.create_connection((broker.host, broker.port), timeout=10) as sock:
                try:
                    return api_versions(sock, 11) == 0
                except ConnectionError:
                    return False

        eventually(admitted, 10)
        for sock in held:
            sock.close()
        assert "refusing connection" in broker.log()
