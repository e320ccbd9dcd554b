"""Serving with uvicorn under :class:`~bazaar.web.Limits`.

uvicorn bounds idle keep-alive connections and (with h11) the size of a request head, but it
waits forever for a head that never completes and lets httptools grow one without bound.
:class:`GuardedHttpTools` adds both: a head must arrive within ``header_timeout_s`` (else 408
and close) and within ``max_header_bytes`` (else 431 and close).

It also closes the way nginx does ("lingering close"): when it closes a connection whose
client is still sending (a refused body), it first sends FIN and discards what still arrives
for up to ``linger_s``. Closing at once would make the kernel answer the unread bytes with a
reset, and the client would lose the 413 it was about to read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from bazaar.web._limits import Limits
from bazaar.web._problem import problem_body


def _refusal(status: int, phrase: str, slug: str, detail: str) -> bytes:
    body = problem_body(status, slug, phrase, detail)
    return (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/problem+json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode() + body


class _LingeringTransport:
    """The real transport, except that ``close`` asks the protocol to linger first."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpTools) -> None:
        self._transport = transport
        self._protocol = protocol
        self.closing = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def is_closing(self) -> bool:
        return self.closing or self._transport.is_closing()

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self._protocol.linger(self._transport)


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request head,
    and a lingering close."""

    limits = Limits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0
        self._lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def linger(self, transport: asyncio.Transport) -> None:
        """Half-close, discard what the client still sends, close for good after linger_s."""
        self._disarm()
        if transport.is_closing():
            return
        self._lingering = True
        try:
            transport.write_eof()
            transport.resume_reading()
        except (OSError, RuntimeError, NotImplementedError):
            transport.close()
            return
        self.loop.call_later(self.limits.linger_s, transport.close)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after our answer, the rest of a refused body is dropped unread
        super().data_received(data)

    def _arm(self) -> None:
        self._disarm()
        self._head_bytes = 0
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _refuse(self, raw: bytes) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.write(raw)
            self.transport.close()

    def _head_late(self) -> None:
        self._head_timer = None
        self._refuse(_refusal(408, "Request Timeout", "header-timeout",
                              f"the request head did not arrive within "
                              f"{self.limits.header_timeout_s:g} s"))

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self.limits.max_header_bytes:
            self._refuse(_refusal(431, "Request Header Fields Too Large", "header-too-large",
                                  f"the request head may be at most "
                                  f"{self.limits.max_header_bytes} bytes"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()


def uvicorn_config(app: Any, limits: Limits, **options: Any) -> uvicorn.Config:
    """A ``uvicorn.Config`` serving ``app`` under ``limits`` (other options passed through:
    ``host``, ``port``, ``log_level``, ``loop``…)."""
    protocol = type("GuardedHttpTools", (GuardedHttpTools,), {"limits": limits})
    options.setdefault("access_log", False)
    options.setdefault("lifespan", "off")
    # Forwarded headers are trusted only when the caller names its proxies.
    options.setdefault("proxy_headers", False)
    return uvicorn.Config(app, http=protocol, timeout_keep_alive=int(max(1, limits.keep_alive_s)),
                          limit_concurrency=limits.max_connections,
                          h11_max_incomplete_event_size=limits.max_header_bytes, **options)
