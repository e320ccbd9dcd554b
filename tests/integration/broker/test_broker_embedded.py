"""The broker embedded in the caller's event loop (as ``bazaar up`` runs it), both Fetch paths,
the public surface, and durable offsets on their own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import bazaar.broker
from bazaar.broker import Broker, BrokerConfig, BrokerError, ConfigError, LogConfig
from bazaar.broker.groups import OffsetStore


@pytest.mark.parametrize("zero_copy", [True, False])
def test_embedded_broker_serves_aiokafka_on_both_fetch_paths(tmp_path: Path,
                                                             zero_copy: bool) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    async def go() -> list[bytes]:
        config = BrokerConfig(data_dir=tmp_path, port=0, zero_copy=zero_copy,
                              log=LogConfig(segment_bytes=4096, flush="interval",
                                            flush_interval_ms=50))
        async with Broker(config) as broker:
            assert broker.port > 0
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap)
            await producer.start()
            for i in range(300):
                await producer.send("emb", f"{i:04d}".encode() * 20)
            await producer.flush()
            await producer.stop()
            consumer = AIOKafkaConsumer("emb", bootstrap_servers=broker.bootstrap,
                                        auto_offset_reset="earliest", group_id="emb")
            await consumer.start()
            got: list[bytes] = []
            try:
                while len(got) < 300:
                    for messages in (await consumer.getmany(timeout_ms=2000)).values():
                        got.extend(m.value for m in messages)
            finally:
                await consumer.stop()
            assert len(broker.state.topics.get("emb", 0).segments) > 1  # type: ignore[union-attr]
            return got

    assert asyncio.run(go()) == [f"{i:04d}".encode() * 20 for i in range(300)]


def test_port_in_use_is_a_typed_error(tmp_path: Path) -> None:
    async def go() -> None:
        async with Broker(BrokerConfig(data_dir=tmp_path / "a", port=0)) as first:
            with pytest.raises(BrokerError, match="cannot listen"):
                await Broker(BrokerConfig(data_dir=tmp_path / "b", port=first.port)).start()

    asyncio.run(go())


@pytest.mark.parametrize("bad", [{"port": 70000}, {"default_partitions": 0},
                                 {"max_request_bytes": 10}])
def test_bad_config_is_refused(tmp_path: Path, bad: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        BrokerConfig(data_dir=tmp_path, **bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [{"segment_bytes": 10}, {"flush": "sometimes"},
                                 {"retention_ms": 0}])
def test_bad_log_config_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LogConfig(**bad)  # type: ignore[arg-type]


def test_public_surface() -> None:
    assert set(bazaar.broker.__all__) >= {"Broker", "BrokerConfig", "LogConfig", "serve",
                                          "run_subprocess", "BrokerProcess", "BrokerError"}
    for name in set(bazaar.broker.__all__) - {"FlushPolicy"}:  # a Literal alias
        assert getattr(bazaar.broker, name).__doc__, f"{name} has no docstring"


def test_offsets_are_durable_and_a_torn_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "offsets.jsonl"
    store = OffsetStore(path)
    store.commit("g", [("t", 0, 5, "m"), ("t", 1, 7, None)])
    store.commit("g", [("t", 0, 6, None)])
    store.close()
    with path.open("ab") as f:
        f.write(b'deadbeef ["g","t",0,99')  # a crash mid-line: never acknowledged
    again = OffsetStore(path)
    assert again.for_group("g")[("t", 0)].offset == 6
    assert again.for_group("g")[("t", 1)].offset == 7
    again.forget_topic("t")
    again.close()
    assert OffsetStore(path).for_group("g") == {}


def test_stop_closes_open_connections(tmp_path: Path) -> None:
    async def go() -> bytes:
        broker = Broker(BrokerConfig(data_dir=tmp_path, port=0))
        await broker.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
        frame = (18).to_bytes(2, "big") + bytes(2) + (1).to_bytes(4, "big") + b"\xff\xff"
        writer.write(len(frame).to_bytes(4, "big") + frame)
        await reader.readexactly(8)  # answered
        await reader.read(10_000)  # rest of the ApiVersions response
        await broker.stop()
        rest = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return rest

    assert asyncio.run(go()) == b""


def test_running_broker_enforces_retention(tmp_path: Path) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def go() -> tuple[int, int]:
        config = BrokerConfig(data_dir=tmp_path, port=0, retention_check_interval_ms=50,
                              log=LogConfig(segment_bytes=2048, retention_bytes=4096,
                                            retention_ms=None))
        async with Broker(config) as broker:
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=0)
            await producer.start()
            for i in range(200):
                await (await producer.send("short", b"x" * 100 + str(i).encode()))
            await producer.stop()
            consumer = AIOKafkaConsumer(bootstrap_servers=broker.bootstrap)
            await consumer.start()
            tp = TopicPartition("short", 0)
            try:
                for _ in range(100):  # the housekeeping task runs every 50 ms
                    start = (await consumer.beginning_offsets([tp]))[tp]
                    if start > 0:
                        break
                    await asyncio.sleep(0.05)
                end = (await consumer.end_offsets([tp]))[tp]
            finally:
                await consumer.stop()
            return start, end

    start, end = asyncio.run(go())
    assert end == 200
    assert 0 < start < end  # old segments went, the newest stayed


def test_idle_connections_are_closed_but_long_polls_are_not(tmp_path: Path) -> None:
    async def go() -> tuple[bytes, int]:
        config = BrokerConfig(data_dir=tmp_path, port=0, connections_max_idle_ms=200)
        async with Broker(config) as broker:
            idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", broker.port)
            idle_writer.write(b"\x00\x00")  # half a size prefix, then nothing
            # a Fetch long poll of 1 s on an empty topic outlives the idle limit
            poll_reader, poll_writer = await asyncio.open_connection("127.0.0.1", broker.port)
            topic = b"quiet"
            body = ((-1).to_bytes(4, "big", signed=True) + (1000).to_bytes(4, "big")
                    + (1).to_bytes(4, "big") + (1 << 20).to_bytes(4, "big") + b"\x00"
                    + (1).to_bytes(4, "big") + len(topic).to_bytes(2, "big") + topic
                    + (1).to_bytes(4, "big") + bytes(4) + bytes(8)
                    + (1 << 20).to_bytes(4, "big"))
            meta = (3).to_bytes(2, "big") + (1).to_bytes(2, "big") + (1).to_bytes(4, "big") \
                + b"\xff\xff" + (1).to_bytes(4, "big") + len(topic).to_bytes(2, "big") + topic
            poll_writer.write(len(meta).to_bytes(4, "big") + meta)  # auto-creates the topic
            size = int.from_bytes(await poll_reader.readexactly(4), "big")
            await poll_reader.readexactly(size)
            frame = (1).to_bytes(2, "big") + (4).to_bytes(2, "big") + (2).to_bytes(4, "big") \
                + b"\xff\xff" + body
            poll_writer.write(len(frame).to_bytes(4, "big") + frame)
            closed = await asyncio.wait_for(idle_reader.read(), 5)
            size = int.from_bytes(await asyncio.wait_for(poll_reader.readexactly(4), 5), "big")
            idle_writer.close()
            poll_writer.close()
            return closed, size

    closed, answered = asyncio.run(go())
    assert closed == b""  # the idle one was dropped
    assert answered > 0  # the long poll got its (empty) answer


def test_the_request_pool_is_whole_again_after_clients_come_and_go(tmp_path: Path) -> None:
    """Whole frames, pipelined frames, frames cut off mid-body, frames waiting for the pool,
    and a real producer: once every client is gone, every reserved byte is back."""
    import struct

    from aiokafka import AIOKafkaProducer
    from kafka.protocol.consumer import FetchRequest

    async def go() -> tuple[int, int]:
        config = BrokerConfig(data_dir=tmp_path, port=0, max_request_bytes=256 * 1024,
                              max_control_request_bytes=64 * 1024,
                              queued_max_request_bytes=512 * 1024)
        async with Broker(config) as broker:
            pool = broker._pool  # the embedding's own accounting, checked from inside
            probe = struct.pack(">hhih", 18, 0, 1, 1) + b"p"
            whole = struct.pack(">i", len(probe)) + probe
            fetch = FetchRequest(replica_id=-1, max_wait_ms=5000, min_bytes=1,
                                 max_bytes=1 << 20, isolation_level=0, topics=[])
            body = struct.pack(">hhih", 1, 4, 2, 1) + b"f" + bytes(fetch.encode(version=4))
            long_poll = struct.pack(">i", len(body)) + body

            async def client(kind: int) -> None:
                reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
                if kind == 0:  # three pipelined requests, answers read
                    writer.write(whole * 3)
                    for _ in range(3):
                        size = struct.unpack(">i", await reader.readexactly(4))[0]
                        await reader.readexactly(size)
                elif kind == 1:  # a large Produce frame cut off mid-body
                    writer.write(struct.pack(">ihh", 200 * 1024, 0, 3) + b"\0" * 50_000)
                elif kind == 2:  # a large frame whole minus one byte: holds a reservation
                    writer.write(struct.pack(">ihh", 200 * 1024, 0, 3)
                                 + b"\0" * (200 * 1024 - 3))
                elif kind == 3:  # a long poll, then requests queued behind it, then gone
                    writer.write(long_poll + whole * 5)
                else:  # a whole large frame (may wait for the pool), then an oversized claim
                    writer.write(struct.pack(">ihh", 200 * 1024, 0, 3)
                                 + b"\0" * (200 * 1024 - 2) + struct.pack(">ihh", 10**8, 0, 3))
                await writer.drain()
                writer.close()
                await writer.wait_closed()

            for _ in range(5):
                await asyncio.gather(*(client(k % 5) for k in range(15)))
            producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
            await producer.start()
            for i in range(50):
                await producer.send("pool", f"{i}".encode())
            await producer.flush()
            await producer.stop()
            for _ in range(200):  # connection_lost runs on the loop: let it, bounded
                if not broker._connections:
                    break
                await asyncio.sleep(0.01)
            return pool.used, len(pool.waiting)

    assert asyncio.run(go()) == (0, 0)


def test_pipelined_produce_requests_share_a_group_commit_and_are_answered_in_order(
        tmp_path: Path) -> None:
    """Ten acks=all produce requests, an ApiVersions and an acks=1 produce written at once on
    one connection: answered in request order, with offsets in order, and the ten acks=all
    requests covered by one fsync round (not ten)."""
    import struct

    from bazaar.broker.log import batch as rb

    def produce_frame(correlation_id: int, acks: int, value: bytes) -> bytes:
        records = rb.build([(None, value)])
        body = (struct.pack(">hhi", -1, acks, 5000) + struct.pack(">ih", 1, 4) + b"pipe"
                + struct.pack(">iii", 1, 0, len(records)) + records)
        frame = struct.pack(">hhih", 0, 3, correlation_id, 1) + b"c" + body
        return struct.pack(">i", len(frame)) + frame

    async def go() -> tuple[list[int], list[int], int]:
        async with Broker(BrokerConfig(data_dir=tmp_path, port=0)) as broker:
            assert broker.state is not None
            broker.state.topics.create("pipe", 1)
            commit = broker.state.group_commit
            rounds_before = commit.rounds
            versions = struct.pack(">hhih", 18, 0, 10, 1) + b"c"
            stream = b"".join(produce_frame(i, -1, b"v%d" % i) for i in range(10))
            stream += struct.pack(">i", len(versions)) + versions + produce_frame(11, 1, b"v11")
            reader, writer = await asyncio.open_connection("127.0.0.1", broker.port)
            writer.write(stream)
            order, offsets = [], []
            for _ in range(12):
                size = struct.unpack(">i", await reader.readexactly(4))[0]
                payload = await reader.readexactly(size)
                correlation_id = struct.unpack(">i", payload[:4])[0]
                order.append(correlation_id)
                if correlation_id != 10:  # a produce answer: one topic, one partition
                    # topics(4) name(2+4) partitions(4) index(4) error(2) base_offset(8)
                    error, base = struct.unpack(">hq", payload[4 + 4 + 6 + 4 + 4:][:10])
                    assert error == 0
                    offsets.append(base)
            writer.close()
            await writer.wait_closed()
            return order, offsets, commit.rounds - rounds_before

    order, offsets, rounds = asyncio.run(go())
    assert order == list(range(12))
    assert offsets == list(range(11))
    assert rounds <= 2, f"{rounds} fsync rounds for ten pipelined acks=all requests"
