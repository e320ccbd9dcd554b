"""The thin asyncio shell: a TCP server whose connections feed the pure protocol core.

Requests on one connection are answered in order, as Kafka requires, and handled one at a
time, except that produce requests waiting for their group commit are pipelined: the next
ones are appended meanwhile so one fsync covers them (any other request waits for them).
Fetch responses are written as the encoded header, then each segment file range with
``loop.sendfile`` (zero-copy: the record bytes never enter Python) unless the copying path
was chosen. A frame over its API's limit, an undecodable request, or an unknown API key or
version closes that connection only; the broker and every other client carry on.

Memory: every request frame takes its size from one :class:`MemoryPool` before its body is
read and gives it back once answered (or when its connection ends). A frame the pool cannot
fit waits with that connection's reading paused, as Kafka mutes a channel when
``queued.max.request.bytes`` is used up; whatever clients claim or send, the broker holds at
most the pool's capacity of request bytes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time

from bazaar.broker._errors import FrameTooLargeError, ProtocolError
from bazaar.broker._state import ANONYMOUS, BrokerState, Client
from bazaar.broker.apis import REGISTRY, api_name
from bazaar.broker.handlers import produce
from bazaar.broker.log import FileRange
from bazaar.broker.protocol import (
    Frame,
    FrameDecoder,
    decode_request,
    encode_response,
)
from bazaar.broker.protocol.apis.produce import ProduceRequest
from bazaar.broker.protocol.header import RequestHeader
from bazaar.broker.security import SaslSession

log = logging.getLogger("bazaar.broker")

_MAX_QUEUED_FRAMES = 64
_MAX_PIPELINED = 5  # produce requests of one connection waiting for their group commit
_PRODUCE = 0
_SMALL = 64 * 1024  # requests up to this size may use the pool's overdraft
_UNAUTHENTICATED_MAX = 512 * 1024  # Kafka's sasl.server.max.receive.size
_BEFORE_AUTH = frozenset({17, 18, 36})  # SaslHandshake, ApiVersions, SaslAuthenticate


class MemoryPool:
    """The request bytes all connections may hold at once; waiters retried on release.

    Small requests (up to 64 KiB: metadata, heartbeats, commits, most fetches) may also use
    an overdraft of 1/16 of the capacity that large ones cannot touch, so a pool filled by
    large produce requests (or by clients that claim them and go quiet until the request
    timeout) still lets every other client's control traffic through.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.overdraft = capacity // 16
        self.used = 0
        self.waiting: dict[Connection, None] = {}  # blocked connections, in arrival order

    def reserve(self, size: int) -> bool:
        limit = self.capacity + (self.overdraft if size <= _SMALL else 0)
        if self.used + size > limit:
            return False
        self.used += size
        return True

    def release(self, size: int) -> None:
        self.used -= size
        while self.waiting and self.used < self.capacity + self.overdraft:
            connection = next(iter(self.waiting))
            del self.waiting[connection]
            if not connection.retry_grant():
                self.waiting[connection] = None  # still too big: first in line again
                break


class Connection(asyncio.Protocol):
    """One client connection: frames in, responses out, strictly in request order."""

    def __init__(self, state: BrokerState, open_connections: set[Connection] | None = None,
                 pool: MemoryPool | None = None) -> None:
        self.state = state
        self.open_connections = open_connections if open_connections is not None else set()
        config = state.config
        self.pool = pool or MemoryPool(config.queued_max_request_bytes)
        self._limits = (config.max_request_bytes, config.max_control_request_bytes)
        self.principal: str | None = ANONYMOUS  # None on a SASL listener until authenticated
        self.decoder = FrameDecoder(self._frame_limit, self.pool.reserve)
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.partial_since: float | None = None  # when the request now arriving began
        self.refused = False
        self.transport: asyncio.Transport | None = None
        self.task: asyncio.Task[None] | None = None
        self.peer = "?"
        self._paused = False
        self.last_active = time.monotonic()
        self.busy = False  # a request is being handled (a long poll is not idleness)
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.writing_since: float | None = None  # a response is being written since
        # produce requests appended and waiting for their group commit, answered in order
        self._pipeline: collections.deque[asyncio.Task[bool]] = collections.deque()
        # on a SASL listener: the exchange, and no principal until it succeeds
        self.sasl: SaslSession | None = None
        if config.sasl_mechanisms and state.credentials is not None:
            self.sasl = SaslSession(state.credentials, config.sasl_mechanisms)
            self.principal = None

    def _frame_limit(self, api_key: int) -> int:
        if self.principal is None:  # before authentication: handshake-sized frames only
            return _UNAUTHENTICATED_MAX
        return self._limits[0] if api_key == _PRODUCE else self._limits[1]

    # --- transport callbacks -----------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else "?"
        if len(self.open_connections) >= self.state.config.max_connections:
            self.refused = True
            self.state.metrics.refused_connections += 1
            if self.state.metrics.refused_connections % 100 == 1:  # a flood: log, not spam
                log.warning("refusing connection from %s: %d open (max_connections)",
                            self.peer, len(self.open_connections))
            transport.abort()
            return
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
        self._took(frames)

    def _took(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.frames.put_nowait(frame)
        decoder = self.decoder
        if decoder.blocked:
            self.partial_since = None  # waiting for the pool is not the client's fault
            self.pool.waiting[self] = None
        elif decoder.pending:
            if self.partial_since is None:
                self.partial_since = time.monotonic()
        else:
            self.partial_since = None
        self._set_reading()

    def _set_reading(self) -> None:
        pause = self.decoder.blocked or self.frames.qsize() > _MAX_QUEUED_FRAMES
        if self.transport is None or self.transport.is_closing() or pause == self._paused:
            return
        if pause:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()
        self._paused = pause

    def retry_grant(self) -> bool:
        """The pool freed memory: try again for the frame this connection waits on."""
        if self.transport is None or self.transport.is_closing():
            return True  # gone: nothing to wait for
        try:  # runs inside another connection's release: its errors must stay here
            frames = self.decoder.resume()
        except FrameTooLargeError as exc:  # the input held back claimed too much
            log.warning("closing connection from %s: %s", self.peer, exc)
            self._abort()
            return True
        self._took(frames)
        return not self.decoder.blocked

    def connection_lost(self, exc: Exception | None) -> None:
        if self.refused:
            return
        self.state.metrics.connections -= 1
        self.open_connections.discard(self)
        self.pool.waiting.pop(self, None)
        self._can_write.set()
        if self.task:
            self.task.cancel()
        for pending in self._pipeline:
            pending.cancel()
        # the memory of frames never handled and of the one half-received goes back now
        while not self.frames.empty():
            self.pool.release(len(self.frames.get_nowait()))
        reserved, self.decoder = self.decoder.reserved, FrameDecoder(0)
        if reserved:
            self.pool.release(reserved)

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    def close(self) -> None:
        """Drop the connection now (broker shutdown)."""
        self._abort()

    def idle_for(self, now: float) -> float:
        """Seconds since the client last sent or was answered (0 while a request runs)."""
        waiting = any(not t.done() for t in self._pipeline)
        return 0.0 if self.busy or waiting or not self.frames.empty() else now - self.last_active

    def request_late_by(self, now: float) -> float:
        """Seconds since the request still arriving began (0 if none is half-sent)."""
        return 0.0 if self.partial_since is None else now - self.partial_since

    def _abort(self) -> None:
        if self.transport:
            self.transport.abort()

    # --- the request loop --------------------------------------------------------------
    async def _serve(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            while True:
                frame = await self.frames.get()
                if self.frames.qsize() < _MAX_QUEUED_FRAMES // 2:
                    self._set_reading()
                self.busy = True
                try:
                    ok = await self._handle(frame)
                except Exception:  # never leave a connection open with nobody serving it
                    log.exception("connection from %s failed", self.peer)
                    ok = False
                finally:
                    self.busy = False
                    self.last_active = time.monotonic()
                    self.pool.release(len(frame))
                if not ok:
                    self._abort()
                    return

    async def _handle(self, frame: Frame) -> bool:
        started = time.perf_counter()
        try:
            request = decode_request(frame, REGISTRY)
        except ProtocolError as exc:
            log.warning("closing connection from %s: %s", self.peer, exc)
            return False
        header = request.header
        name = api_name(header.api_key)
        self.state.metrics.requests[name] += 1
        if self.principal is None and header.api_key not in _BEFORE_AUTH:
            log.warning("closing connection from %s: %s before authenticating", self.peer,
                        name)
            return False
        if header.api_key == _PRODUCE:
            return await self._produce(header, request.body)
        if self._pipeline and not await self._drain():  # answers go out in request order
            return False
        client = Client(header.client_id or "", self.peer, self.principal or ANONYMOUS,
                        self.sasl)
        try:
            response = await REGISTRY[header.api_key].handler(self.state, request.body, client,
                                                     header.api_version)
        except Exception:  # a bug must cost one connection, not the broker
            log.exception("%s v%d from %s failed", name, header.api_version, self.peer)
            return False
        if self.principal is None and self.sasl is not None and self.sasl.principal:
            self.principal = self.sasl.principal
        if response is None:
            return not client.close_after
        ok = await self._answer(header, name, response) and not client.close_after
        log.debug("%s v%d %.3f ms", name, header.api_version,
                  (time.perf_counter() - started) * 1000)
        return ok

    async def _answer(self, header: RequestHeader, name: str, response: object) -> bool:
        try:
            parts = encode_response(header, response, REGISTRY)
        except Exception:  # a response we cannot encode: the client cannot be answered
            log.exception("encoding %s v%d for %s failed", name, header.api_version, self.peer)
            return False
        try:
            await self._write(parts)
        except (ConnectionError, OSError, RuntimeError) as exc:
            log.info("client %s went away during %s: %s", self.peer, name, exc)
            return False
        return True

    # --- produce, pipelined ------------------------------------------------------------
    async def _produce(self, header: RequestHeader, body: ProduceRequest) -> bool:
        """Append now; answer when durable. While one request waits for its group commit
        the next ones on this connection are appended too, so one fsync covers them all;
        their answers still go out in request order (up to five wait at once)."""
        try:
            appended = produce.append(self.state, body, self.principal or ANONYMOUS)
        except Exception:  # a bug must cost one connection, not the broker
            log.exception("Produce v%d from %s failed", header.api_version, self.peer)
            return False
        if not appended.durable and not self._pipeline:  # nothing to wait for: answer now
            response = await produce.settle(self.state, appended)
            return response is None or await self._answer(header, "Produce", response)
        while self._pipeline and self._pipeline[0].done():
            if not self._pipeline.popleft().result():
                return False
        if len(self._pipeline) >= _MAX_PIPELINED and not await self._pipeline[0]:
            return False
        previous = self._pipeline[-1] if self._pipeline else None
        self._pipeline.append(asyncio.get_running_loop().create_task(
            self._settle_and_answer(header, appended, previous)))
        return True

    async def _settle_and_answer(self, header: RequestHeader, appended: produce.Appended,
                                 previous: asyncio.Task[bool] | None) -> bool:
        try:
            response = await produce.settle(self.state, appended)
            if previous is not None and not await previous:
                return False
            ok = response is None or await self._answer(header, "Produce", response)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug must cost one connection, not the broker
            log.exception("Produce v%d from %s failed", header.api_version, self.peer)
            ok = False
        if not ok:
            self._abort()
        return ok

    async def _drain(self) -> bool:
        """Wait until every pipelined produce is answered; False if one failed."""
        while self._pipeline:
            if not await self._pipeline[0]:
                return False
            self._pipeline.popleft()
        return True

    def write_late_by(self, now: float) -> float:
        """Seconds the response being written has taken so far (0 if none): a client that
        stopped reading keeps it there, and is closed past ``write_timeout_ms``."""
        return 0.0 if self.writing_since is None else now - self.writing_since

    async def _write(self, parts: list[bytes | FileRange]) -> None:
        self.writing_since = time.monotonic()
        try:
            await self._write_parts(parts)
        finally:
            self.writing_since = None

    async def _write_parts(self, parts: list[bytes | FileRange]) -> None:
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
