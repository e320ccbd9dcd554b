"""A raw-socket HTTP/1.1 server on loopback for crawler tests: it writes whatever bytes a test
wants (well-formed keep-alive answers, or garbage) and counts connections per Host.

It runs in the test's own event loop (``async with RawServer(handler) as server``); a handler
gets the request (method, path, headers) and the writer, writes what it likes and returns True
to keep the connection for another request.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

from bazaar.processes import free_port


@dataclass
class RawRequest:
    method: str
    path: str
    headers: dict[str, str]

    @property
    def host(self) -> str:
        return self.headers.get("host", "").rsplit(":", 1)[0].lower()


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]


def response(status: int, body: bytes, ctype: str = "text/html",
             extra: str = "") -> bytes:
    """A well-formed keep-alive response."""
    return (f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


async def keep_alive_page(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    writer.write(response(200, f"<html>{request.path}</html>".encode()))
    await writer.drain()
    return True


@dataclass
class RawServer:
    handler: Handler = keep_alive_page
    port: int = field(default_factory=free_port)
    connections: collections.Counter[str] = field(default_factory=collections.Counter)
    requests: list[RawRequest] = field(default_factory=list)
    open_now: int = 0
    _server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_now += 1
        counted = False
        try:
            while True:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                request = RawRequest(method, path, headers)
                self.requests.append(request)
                if not counted:
                    self.connections[request.host] += 1
                    counted = True
                if not await self.handler(request, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
