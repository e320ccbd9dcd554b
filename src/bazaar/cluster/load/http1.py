"""A minimal HTTP/1.1 keep-alive client on asyncio streams: what a load generator needs and
no more (one request in flight per connection, Content-Length or chunked bodies), so the
generator, not the client library, is never the bottleneck on a 2-core machine."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection broke or the answer was not HTTP."""


class Connection:
    def __init__(self, base_url: str, headers: dict[str, str] | None = None,
                 timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"need an http:// URL, got {base_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.authority = parts.netloc
        self.headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.timeout_s = timeout_s
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        return self._reader, self._writer

    async def request(self, method: str, target: str, body: bytes = b"",
                      content_type: str = "application/json") -> tuple[int, bytes]:
        """(status, body); :class:`HttpError` (and the connection dropped) on failure."""
        try:
            return await asyncio.wait_for(self._exchange(method, target, body, content_type),
                                          self.timeout_s)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, HttpError) as exc:
            self.close()
            raise HttpError(f"{method} {target}: {type(exc).__name__}: {exc}") from exc

    async def _exchange(self, method: str, target: str, body: bytes,
                        content_type: str) -> tuple[int, bytes]:
        reader, writer = await self._open()
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.authority}\r\n{self.headers}"
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        writer.write(head.encode("latin-1") + b"\r\n" + body)
        status_line = await reader.readuntil(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"not HTTP: {status_line[:80]!r}")
        status = int(parts[1])
        length = -1
        chunked = close = False
        while True:
            line = await reader.readuntil(b"\r\n")
            if line == b"\r\n":
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif name == b"connection" and b"close" in value.lower():
                close = True
        if chunked:
            data = bytearray()
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                chunk = await reader.readexactly(size + 2)
                if size == 0:
                    break
                data += chunk[:-2]
            payload = bytes(data)
        elif length >= 0:
            payload = await reader.readexactly(length)
        else:
            payload = await reader.read()
            close = True
        if close:
            self.close()
        return status, payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
