"""The control socket trusts nothing before a host registers: the attacks, on a real socket.

A frame's size is checked before its body is read; until a host registers, a frame may be
64 KiB at most and nothing but ``register`` is answered; a connection that does not register,
or stops half-way through a frame, is closed; there is a connection cap.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgpack  # type: ignore[import-untyped]

from bazaar.functions import PackageStore, WorkerManager
from bazaar.functions._wire import REQUEST, encode

Body = Callable[[Path, WorkerManager], Awaitable[None]]


def _run(tmp_path: Path, body: Body, **settings: float) -> None:
    async def main() -> None:
        manager = WorkerManager(PackageStore(tmp_path / "packages"),
                                **settings)  # type: ignore[arg-type]
        path = tmp_path / "control.sock"
        server = await asyncio.start_unix_server(manager.attach, path)
        try:
            await body(path, manager)
        finally:
            server.close()
            await manager.stop()
    asyncio.run(main())


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends before it closes the connection (which it must)."""
    return await asyncio.wait_for(reader.read(), seconds)


def test_an_oversized_frame_is_refused_before_its_body(tmp_path: Path) -> None:
    async def body(path: Path, manager: WorkerManager) -> None:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(struct.pack(">I", 60 * 1024 * 1024))  # announces 60 MB, sends none
        await writer.drain()
        assert await _closed_within(reader, 5) == b""
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(encode(REQUEST, 1, "register", {"pad": "x" * 100_000}))  # > 64 KiB
        await writer.drain()
        assert await _closed_within(reader, 5) == b""
        assert manager.hosts() == []
    _run(tmp_path, body)


def test_nothing_but_register_is_answered_before_registering(tmp_path: Path) -> None:
    async def body(path: Path, manager: WorkerManager) -> None:
        digest = PackageStore(tmp_path / "packages").put(b"secret code")
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(encode(REQUEST, 1, "package", {"digest": digest}))
        await writer.drain()
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        kind, call_id, _, reply = msgpack.unpackb(await reader.readexactly(size), raw=False)
        assert (kind, call_id) == (2, 1)  # a failure ...
        assert "before register" in reply["message"] and "blob" not in reply  # ... no code
        writer.close()
    _run(tmp_path, body)


def test_a_silent_or_half_sent_connection_is_closed(tmp_path: Path) -> None:
    async def body(path: Path, manager: WorkerManager) -> None:
        reader, _ = await asyncio.open_unix_connection(path)  # never registers
        assert await _closed_within(reader, 5) == b""
        reader, writer = await asyncio.open_unix_connection(path)
        frame = encode(REQUEST, 1, "register", {"host_id": "h", "memory_mb": 1, "slots": 1})
        writer.write(frame[:-3])  # the body stops three bytes short
        await writer.drain()
        assert await _closed_within(reader, 5) == b""
        assert manager.hosts() == []
    _run(tmp_path, body, register_timeout_s=0.3, body_timeout_s=0.3)


def test_connections_beyond_the_cap_are_closed_at_once(tmp_path: Path) -> None:
    async def register() -> bool:
        reader, writer = await asyncio.open_unix_connection(tmp_path / "control.sock")
        try:  # accepted connections are kept open: the host stays registered
            writer.write(encode(REQUEST, 1, "register",
                                {"host_id": "h", "memory_mb": 64, "slots": 1}))
            await writer.drain()
            (size,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 5))
        except (asyncio.IncompleteReadError, ConnectionResetError, BrokenPipeError):
            return False  # closed at once: over the cap
        kind, _, _, _ = msgpack.unpackb(await reader.readexactly(size), raw=False)
        return bool(kind == 1)

    async def body(path: Path, manager: WorkerManager) -> None:
        held = [await asyncio.open_unix_connection(path) for _ in range(2)]  # accepted in order
        reader, _ = await asyncio.open_unix_connection(path)
        assert await _closed_within(reader, 5) == b""
        assert not await register()
        for _, writer in held:  # once room is made, a host gets in
            writer.close()
        deadline = asyncio.get_running_loop().time() + 5
        while not await register():
            assert asyncio.get_running_loop().time() < deadline, "no room after closing"
        assert [h["host_id"] for h in manager.hosts()] == ["h"]
    _run(tmp_path, body, max_connections=2)
