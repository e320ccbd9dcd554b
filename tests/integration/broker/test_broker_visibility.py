"""What consumers may see, and what a consumer may cost: records that wait for the group
commit (acks=all) stay above the high watermark until their fdatasync covered them; a
client that never reads its responses is closed after ``write_timeout_ms``."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from bazaar.broker import Broker, BrokerConfig, LogConfig, group_commit
from bazaar.broker.log import Log


def test_acks_all_records_are_invisible_until_their_sync(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    gate = threading.Event()
    real_sync = group_commit._sync

    def held_sync(logs: list[Log]) -> dict[Log, OSError]:
        gate.wait(60)  # the disk is slow: the fdatasync has not returned yet
        return real_sync(logs)

    monkeypatch.setattr(group_commit, "_sync", held_sync)

    async def go() -> None:
        async with Broker(BrokerConfig(data_dir=tmp_path, port=0)) as broker:
            tp = TopicPartition("hw", 0)
            fast = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks=1)
            durable = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
            for client in (fast, durable, consumer):
                await client.start()
            try:
                await fast.send_and_wait("hw", b"page-cache", partition=0)  # no sync needed
                consumer.assign([tp])
                consumer.seek(tp, 0)
                got = await consumer.getmany(tp, timeout_ms=3000)
                assert [m.value for m in got.get(tp, [])] == [b"page-cache"]
                ack = await durable.send("hw", b"acks-all", partition=0)
                await asyncio.sleep(0.5)
                assert not ack.done()  # appended, not yet durable
                assert await consumer.getmany(tp, timeout_ms=1500) == {}
                assert (await consumer.end_offsets([tp]))[tp] == 1  # the high watermark
                gate.set()
                meta = await asyncio.wait_for(ack, 30)
                assert meta.offset == 1
                got = await consumer.getmany(tp, timeout_ms=5000)
                assert [m.value for m in got.get(tp, [])] == [b"acks-all"]
            finally:
                gate.set()
                for client in (fast, durable, consumer):
                    await client.stop()

    asyncio.run(go())


def _fetch_v4(correlation: int, topic: str) -> bytes:
    name = topic.encode()
    body = struct.pack(">hhih", 1, 4, correlation, 1) + b"x"  # Fetch v4, client id "x"
    body += struct.pack(">iiiib", -1, 0, 1, 50 << 20, 0)  # replica, wait, min, max, isolation
    body += struct.pack(">ih", 1, len(name)) + name
    body += struct.pack(">iiqi", 1, 0, 0, 50 << 20)  # partition 0 from offset 0
    return struct.pack(">i", len(body)) + body


def test_a_client_that_never_reads_is_closed_after_the_write_timeout(tmp_path: Path) -> None:
    from aiokafka import AIOKafkaProducer

    async def go() -> None:
        config = BrokerConfig(data_dir=tmp_path, port=0, write_timeout_ms=1500,
                              log=LogConfig(segment_bytes=64 << 20))
        async with Broker(config) as broker:
            assert broker.state is not None
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks=1,
                                        max_batch_size=1 << 20, linger_ms=5)
            await producer.start()
            for _ in range(160):  # 16 MB: more than the socket buffers hold
                await producer.send("big", b"x" * 100_000, partition=0)
            await producer.flush()
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", broker.port))
            for i in range(8):  # pipelined fetches, none of the answers ever read
                sock.sendall(_fetch_v4(i, "big"))
            started = time.monotonic()
            while broker.state.metrics.write_timeouts == 0 and time.monotonic() - started < 60:
                await asyncio.sleep(0.1)
            assert broker.state.metrics.write_timeouts == 1
            # a bystander is served meanwhile and afterwards
            await producer.send_and_wait("big", b"after", partition=0)
            await producer.stop()
            sock.setblocking(False)
            closed = False
            for _ in range(2000):  # what the kernel still holds, then the end (or a reset)
                try:
                    chunk = await asyncio.get_running_loop().sock_recv(sock, 1 << 20)
                except ConnectionResetError:
                    closed = True
                    break
                if not chunk:
                    closed = True
                    break
            sock.close()
            assert closed

    asyncio.run(go())
