"""The control channel between the worker manager and a worker host: framed msgpack RPC.

One connection per host (a unix socket in a directory only the platform's user can enter),
opened by the host. Either side may call the other; calls carry
an id and are answered out of order, so many invokes share one connection. A frame is a
4-byte big-endian length and a msgpack array ``[kind, id, op, body]``. When the connection
drops, every pending call fails with :class:`PeerClosed` at once: that is how a killed host's
in-flight invokes fail fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import msgpack  # type: ignore[import-untyped]

_HEADER = struct.Struct(">I")
#: The largest frame a host reads (a package of up to 50 MB travels in one reply).
MAX_FRAME = 64 * 1024 * 1024
#: The largest frame the control plane reads from a registered host (an answer carries at most
#: a 6 MiB response and 2 x 64 KiB of logs), and from a connection that has not registered yet.
MAX_HOST_FRAME = 8 * 1024 * 1024
MAX_UNREGISTERED_FRAME = 64 * 1024
#: Once a frame's header has arrived, its body must follow within this many seconds.
BODY_TIMEOUT_S = 30.0
REQUEST, REPLY, FAILURE, NOTICE = 0, 1, 2, 3

Handler = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]


class PeerClosed(ConnectionError):
    """The other side went away; pending and future calls fail with this."""


class RemoteFailure(Exception):
    """The other side's handler raised; ``message`` says what."""


def encode(kind: int, call_id: int, op: str, body: dict[str, Any]) -> bytes:
    payload: bytes = msgpack.packb([kind, call_id, op, body], use_bin_type=True)
    return _HEADER.pack(len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, max_frame: int = MAX_FRAME,
                     body_timeout: float = BODY_TIMEOUT_S,
                     ) -> tuple[int, int, str, dict[str, Any]]:
    """One frame. The size is checked before a byte of the body is read (PeerClosed when it
    is over ``max_frame``), and a body that does not arrive within ``body_timeout`` seconds
    of its header ends the connection: a half-sent frame is not held forever."""
    (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
    if size > max_frame:
        raise PeerClosed(f"frame of {size} bytes exceeds {max_frame}")
    try:
        async with asyncio.timeout(body_timeout):
            raw = await reader.readexactly(size)
    except TimeoutError:
        raise PeerClosed(f"a frame's body did not arrive within {body_timeout} s") from None
    kind, call_id, op, body = msgpack.unpackb(raw, raw=False)
    if not isinstance(body, dict):
        raise ValueError("a frame's body must be a map")
    return int(kind), int(call_id), str(op), body


class Peer:
    """One end of the channel. ``serve`` reads until the connection drops."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 handler: Handler | None = None, *, max_frame: int = MAX_FRAME,
                 body_timeout: float = BODY_TIMEOUT_S) -> None:
        #: The largest frame this end accepts; may be raised once the other end is known.
        self.max_frame = max_frame
        self.body_timeout = body_timeout
        self._reader = reader
        self._writer = writer
        self._handler = handler
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.closed = False
        self.on_notice: Callable[[str, dict[str, Any]], None] | None = None

    async def call(self, op: str, body: dict[str, Any],
                   timeout: float | None = None) -> dict[str, Any]:
        """Send a request and wait for its reply. Raises PeerClosed or RemoteFailure."""
        if self.closed:
            raise PeerClosed("connection closed")
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._writer.write(encode(REQUEST, call_id, op, body))
            return await asyncio.wait_for(future, timeout) if timeout else await future
        finally:
            self._pending.pop(call_id, None)

    def notify(self, op: str, body: dict[str, Any]) -> None:
        """Send a one-way message (heartbeats)."""
        if not self.closed:
            self._writer.write(encode(NOTICE, 0, op, body))

    async def serve(self) -> None:
        """Dispatch frames until the connection drops, then fail every pending call."""
        try:
            while True:
                kind, call_id, op, body = await read_frame(self._reader, self.max_frame,
                                                            self.body_timeout)
                if kind == REQUEST:
                    task = asyncio.create_task(self._answer(call_id, op, body))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                elif kind == NOTICE:
                    if self.on_notice is not None:
                        self.on_notice(op, body)
                else:
                    future = self._pending.get(call_id)
                    if future is not None and not future.done():
                        if kind == REPLY:
                            future.set_result(body)
                        else:
                            future.set_exception(RemoteFailure(body.get("message", "")))
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError, TypeError):
            pass  # a dropped, oversized, slow or garbled connection: closed below
        finally:
            self.close()

    async def _answer(self, call_id: int, op: str, body: dict[str, Any]) -> None:
        assert self._handler is not None
        try:
            reply = await self._handler(op, body)
            frame = encode(REPLY, call_id, op, reply)
        except Exception as exc:  # the handler's failure goes back to the caller
            frame = encode(FAILURE, call_id, op, {"message": f"{type(exc).__name__}: {exc}"})
        if not self.closed:
            self._writer.write(frame)

    def close(self) -> None:
        """Close the connection and fail every pending call with PeerClosed."""
        if self.closed:
            return
        self.closed = True
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PeerClosed("connection lost"))
        with contextlib.suppress(Exception):
            self._writer.close()
        for task in self._tasks:
            task.cancel()
