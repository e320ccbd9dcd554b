"""A small HTTP/3 client on aioquic: the tests', bench's and lab's h3 peer.

Requests are sent on one QUIC connection, each on its own stream, so they can be in flight
together (``asyncio.gather``) the way a browser fetches a page's objects.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aioquic.asyncio.client import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, H3Event, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ConnectionTerminated, QuicEvent


class H3Error(RuntimeError):
    """The connection ended before the response did."""


@dataclass
class H3Response:
    status: int
    headers: list[tuple[str, str]]
    content: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


@dataclass
class _Pending:
    done: asyncio.Future[None]
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class _H3Protocol(QuicConnectionProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.h3 = H3Connection(self._quic)
        self.pending: dict[int, _Pending] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            for p in self.pending.values():
                if not p.done.done():
                    p.done.set_exception(H3Error(f"connection closed: {event.reason_phrase!r} "
                                                 f"(error {event.error_code})"))
        for h3_event in self.h3.handle_event(event):
            self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        if not isinstance(event, HeadersReceived | DataReceived):
            return
        pending = self.pending.get(event.stream_id)
        if pending is None:
            return
        if isinstance(event, HeadersReceived):
            pending.headers.extend(event.headers)
        else:
            pending.body += event.data
        if event.stream_ended and not pending.done.done():
            pending.done.set_result(None)

    async def request(self, method: str, authority: str, path: str,
                      headers: list[tuple[str, str]], body: bytes) -> H3Response:
        stream_id = self._quic.get_next_available_stream_id()
        pending = _Pending(asyncio.get_running_loop().create_future())
        self.pending[stream_id] = pending
        self.h3.send_headers(stream_id, [
            (b":method", method.encode()), (b":scheme", b"https"),
            (b":authority", authority.encode()), (b":path", path.encode()),
            *((k.lower().encode(), v.encode()) for k, v in headers)], end_stream=not body)
        if body:
            self.h3.send_data(stream_id, body, end_stream=True)
        self.transmit()
        try:
            await pending.done
        finally:
            del self.pending[stream_id]
        status = 0
        out: list[tuple[str, str]] = []
        for k, v in pending.headers:
            if k == b":status":
                status = int(v)
            elif not k.startswith(b":"):
                out.append((k.decode(), v.decode()))
        return H3Response(status, out, bytes(pending.body))


class H3Client:
    """Requests over one HTTP/3 connection (see :func:`h3_client`)."""

    def __init__(self, protocol: _H3Protocol, authority: str) -> None:
        self._protocol = protocol
        self._authority = authority

    async def get(self, path: str, headers: list[tuple[str, str]] | None = None
                  ) -> H3Response:
        return await self.request("GET", path, headers)

    async def request(self, method: str, path: str,
                      headers: list[tuple[str, str]] | None = None,
                      body: bytes = b"") -> H3Response:
        return await self._protocol.request(method, self._authority, path, headers or [], body)


@asynccontextmanager
async def h3_client(host: str, port: int, *, ca: Path | None = None,
                    server_name: str = "localhost",
                    max_data: int = 64 * 1024 * 1024) -> AsyncIterator[H3Client]:
    """One HTTP/3 connection to ``host:port``, verifying the server against ``ca``.

    ``max_data`` is the connection's flow-control window: large enough that a fast server is
    not held back by the client's receive window on loopback."""
    config = QuicConfiguration(is_client=True, alpn_protocols=H3_ALPN,
                               server_name=server_name, verify_mode=ssl.CERT_REQUIRED,
                               max_data=max_data, max_stream_data=max_data)
    if ca is not None:
        config.load_verify_locations(cafile=str(ca))
    async with connect(host, port, configuration=config,
                       create_protocol=_H3Protocol) as protocol:
        assert isinstance(protocol, _H3Protocol)
        yield H3Client(protocol, f"{server_name}:{port}")
