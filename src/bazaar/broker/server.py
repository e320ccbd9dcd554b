"""The thin asyncio shell: a TCP server whose connections feed the pure protocol core.

Requests on one connection are answered one at a time, in order, as Kafka requires.
Fetch responses are written as the encoded header, then each segment file range with
``loop.sendfile`` (zero-copy: the record bytes never enter Python) unless the copying path
was chosen. A frame over ``max_request_bytes``, an undecodable request, or an unknown API
key or version closes that connection only; the broker and every other client carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from bazaar.broker._errors import FrameTooLargeError, ProtocolError
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.handlers import HANDLERS
from bazaar.broker.log import FileRange
from bazaar.broker.protocol import (
    Frame,
    FrameDecoder,
    api_name,
    decode_request,
    encode_response,
)

log = logging.getLogger("bazaar.broker")

_MAX_QUEUED_FRAMES = 64


class Connection(asyncio.Protocol):
    """One client connection: frames in, responses out, strictly in request order."""

    def __init__(self, state: BrokerState, open_connections: set[Connection] | None = None
                 ) -> None:
        self.state = state
        self.open_connections = open_connections if open_connections is not None else set()
        self.decoder = FrameDecoder(state.config.max_request_bytes)
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self._paused = False
        self.last_active = time.monotonic()
        self.busy = False  # a request is being handled (a long poll is not idleness)
        self._can_write = asyncio.Event()
        self._can_write.set()

    # --- transport callbacks -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        self.state.metrics.connections += 1
        self.open_connections.add(self)
        self.task = asyncio.get_running_loop().create_task(self._serve())

    def data_received(self, data: bytes) -> None:
        self.last_active = time.monotonic()
        try:
            frames = self.decoder.feed(data)
        except FrameTooLargeError as exc:
            log.warning("closing connection from %s: %s", self.peer, exc)
            self._abort()
            return
        for frame in frames:
            self.frames.put_nowait(frame)
        if self.frames.qsize() > _MAX_QUEUED_FRAMES and self.transport and not self._paused:
            self.transport.pause_reading()
            self._paused = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.state.metrics.connections -= 1
        self.open_connections.discard(self)
        self._can_write.set()
        if self.task:
            self.task.cancel()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def close(self) -> None:
        """Drop the connection now (broker shutdown)."""
        self._abort()

    def idle_for(self, now: float) -> float:
        """Seconds since the client last sent or was answered (0 while a request runs)."""
        return 0.0 if self.busy or not self.frames.empty() else now - self.last_active

    def _abort(self) -> None:
        if self.transport:
            self.transport.abort()

    # --- the request loop --------------------------------------------------------------
    async def _serve(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                frame = await self.frames.get()
                if self._paused and self.frames.qsize() < _MAX_QUEUED_FRAMES // 2:
                    assert self.transport is not None
                    self.transport.resume_reading()
                    self._paused = False
                self.busy = True
                try:
                    ok = await self._handle(frame)
                except Exception:  # never leave a connection open with nobody serving it
                    log.exception("connection from %s failed", self.peer)
                    ok = False
                finally:
                    self.busy = False
                    self.last_active = time.monotonic()
                if not ok:
                    self._abort()
                    return

    async def _handle(self, frame: Frame) -> bool:
        started = time.perf_counter()
        try:
            request = decode_request(frame)
        except ProtocolError as exc:
            log.warning("closing connection from %s: %s", self.peer, exc)
            return False
        header = request.header
        name = api_name(header.api_key)
        self.state.metrics.requests[name] += 1
        client = Client(header.client_id or "", self.peer)
        try:
            response = await HANDLERS[header.api_key](self.state, request.body, client,
                                                     header.api_version)
        except Exception:  # a bug must cost one connection, not the broker
            log.exception("%s v%d from %s failed", name, header.api_version, self.peer)
            return False
        if response is None:
            return True
        try:
            parts = encode_response(header, response)
        except Exception:  # a response we cannot encode: the client cannot be answered
            log.exception("encoding %s v%d for %s failed", name, header.api_version, self.peer)
            return False
        try:
            await self._write(parts)
        except (ConnectionError, OSError, RuntimeError) as exc:
            log.info("client %s went away during %s: %s", self.peer, name, exc)
            return False
        log.debug("%s v%d %.3f ms", name, header.api_version,
                  (time.perf_counter() - started) * 1000)
        return True

    async def _write(self, parts: list[bytes | FileRange]) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionError("closed")
        loop = asyncio.get_running_loop()
        for part in parts:
            if isinstance(part, FileRange):
                if part.size:
                    await loop.sendfile(transport, part.file, part.position,  # type: ignore[arg-type]
                                        part.size, fallback=True)
                self.state.metrics.bytes_out += part.size
            else:
                transport.write(part)
                self.state.metrics.bytes_out += len(part)
        if not self._can_write.is_set():
            await self._can_write.wait()
