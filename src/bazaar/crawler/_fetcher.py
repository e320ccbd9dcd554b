"""The fetcher: one httpx client, limits checked before anything is buffered.

* the body limit is checked against Content-Length before reading, then counted while
  streaming (decoded bytes, so a gzip bomb is cut too);
* only the content types we parse are read; any other is closed unread;
* redirects are not followed here: the crawler queues the target as a new URL, so it goes
  through dedup, robots and politeness like any other (a redirect loop ends at the seen-set,
  a chain at ``max_redirects``);
* ``resolve`` maps host names to addresses (like ``curl --resolve``), e.g. every
  ``*.localhost`` to 127.0.0.1 for a synthetic web on loopback.
"""

from __future__ import annotations

import asyncio
import fnmatch
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

import httpcore
import httpx

from bazaar.crawler._errors import (
    BodyTooLargeError,
    ConnectError,
    CrawlConfigError,
    FetchError,
    FetchTimeoutError,
)

HTML_TYPES: tuple[str, ...] = ("text/html", "application/xhtml+xml")


@dataclass(frozen=True)
class FetchLimits:
    """Sizes in bytes, times in seconds."""

    max_body: int = 2 * 1024 * 1024
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_redirects: int = 5
    content_types: tuple[str, ...] = HTML_TYPES

    def __post_init__(self) -> None:
        if not 0 < self.max_body <= 1 << 31:
            raise CrawlConfigError(f"max_body must be 1 B..2 GiB, got {self.max_body}")
        if min(self.connect_timeout, self.read_timeout, self.total_timeout) <= 0:
            raise CrawlConfigError("timeouts must be positive")
        if not 0 <= self.max_redirects <= 50:
            raise CrawlConfigError(f"max_redirects must be 0..50, got {self.max_redirects}")


@dataclass
class Fetched:
    """One response: ``body`` is empty unless the content type is one we parse."""

    url: str
    status: int
    content_type: str
    body: bytes
    location: str | None
    elapsed: float
    encoding: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


class _ResolvingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, table: Mapping[str, str]) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._exact = {k.lower(): v for k, v in table.items() if "*" not in k}
        self._globs = [(k.lower(), v) for k, v in table.items() if "*" in k]

    def address(self, host: str) -> str:
        host = host.lower()
        if host in self._exact:
            return self._exact[host]
        for pattern, addr in self._globs:
            if fnmatch.fnmatchcase(host, pattern):
                return addr
        return host

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                          ) -> httpcore.AsyncNetworkStream:
        return await self._inner.connect_tcp(self.address(host), port, timeout, local_address,
                                             socket_options)

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
                                  ) -> httpcore.AsyncNetworkStream:  # pragma: no cover
        return await self._inner.connect_unix_socket(path, timeout, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _TrackedStream(httpx.AsyncByteStream):
    """A response body that tells its host's slot when it is closed (the slot is idle)."""

    def __init__(self, inner: httpx.AsyncByteStream, slot: _HostSlot) -> None:
        self._inner = inner
        self._slot: _HostSlot | None = slot

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            if self._slot is not None:
                self._slot.busy -= 1
                self._slot = None


@dataclass
class _HostSlot:
    transport: httpx.AsyncHTTPTransport
    busy: int = 0


class PerHostTransport(httpx.AsyncBaseTransport):
    """One small connection pool per origin, the least recently used idle ones closed.

    The crawler leases a host to one worker at a time and visits hosts in turn, so one shared
    pool of ``concurrency`` connections reconnected on nearly every request (the pool's idle
    connection belonged to another host), and httpcore scans every pooled connection on each
    request (a pool large enough to keep them was slower still). Here each origin has its own
    pool of at most two connections (a lookup in a dict, not a scan) and up to ``idle_hosts``
    origins keep their idle connection open for their next turn.
    """

    def __init__(self, *, idle_hosts: int, keepalive_expiry: float,
                 resolve: Mapping[str, str] | None = None) -> None:
        self._slots: OrderedDict[tuple[bytes, bytes, int | None], _HostSlot] = OrderedDict()
        self._idle_hosts = idle_hosts
        self._expiry = keepalive_expiry
        self._backend = _ResolvingBackend(resolve) if resolve else None
        self._ssl = httpx.create_ssl_context()  # one CA bundle, loaded once

    def _new_slot(self) -> _HostSlot:
        transport = httpx.AsyncHTTPTransport(verify=self._ssl, trust_env=False)
        if self._backend is not None:
            # httpx has no resolver hook; its transport is a thin shell over an httpcore
            # pool, which takes a network backend: give it one that maps names.
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl, max_connections=2, max_keepalive_connections=1,
                keepalive_expiry=self._expiry, network_backend=self._backend)
        else:
            transport._pool = httpcore.AsyncConnectionPool(
                ssl_context=self._ssl, max_connections=2, max_keepalive_connections=1,
                keepalive_expiry=self._expiry)
        return _HostSlot(transport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.raw_scheme, request.url.raw_host, request.url.port)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = self._new_slot()
            await self._evict()
        else:
            self._slots.move_to_end(key)
        slot.busy += 1
        try:
            response = await slot.transport.handle_async_request(request)
        except BaseException:
            slot.busy -= 1
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _TrackedStream(response.stream, slot)
        return response

    async def _evict(self) -> None:
        excess = len(self._slots) - self._idle_hosts
        if excess <= 0:
            return
        idle = [k for k, s in self._slots.items() if s.busy == 0][:excess]
        for key in idle:
            await self._slots.pop(key).transport.aclose()

    async def aclose(self) -> None:
        slots, self._slots = list(self._slots.values()), OrderedDict()
        for slot in slots:
            await slot.transport.aclose()


def make_client(*, user_agent: str, limits: FetchLimits, concurrency: int,
                resolve: Mapping[str, str] | None = None,
                idle_hosts: int | None = None) -> httpx.AsyncClient:
    """The crawler's HTTP client: a connection pool per host, kept open for up to
    ``idle_hosts`` hosts (default ``max(256, 16 x concurrency)``, fewer under a low
    descriptor limit), no env proxies."""
    import resource

    idle = idle_hosts
    if idle is None:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        idle = max(256, 16 * concurrency)
        if soft != resource.RLIM_INFINITY:  # leave three quarters of the fds to the rest
            idle = max(concurrency, min(idle, soft // 4))
    if idle < 1:
        raise CrawlConfigError(f"idle_hosts must be >= 1, got {idle}")
    transport = PerHostTransport(idle_hosts=idle, keepalive_expiry=30.0, resolve=resolve)
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout)
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False,
                             trust_env=False, headers={"User-Agent": user_agent})


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


async def fetch(client: httpx.AsyncClient, url: str, limits: FetchLimits,
                *, accept_any_type: bool = False, max_body: int | None = None) -> Fetched:
    """GET ``url`` within ``limits``; :class:`FetchError` subclasses on failure."""
    cap = max_body or limits.max_body
    started = time.monotonic()
    try:
        async with asyncio.timeout(limits.total_timeout):
            async with client.stream("GET", url) as response:
                ctype = response.headers.get("content-type", "")
                location = response.headers.get("location")
                declared = response.headers.get("content-length")
                if declared is not None and declared.strip().isdigit() \
                        and int(declared) > cap:
                    raise BodyTooLargeError(url, f"Content-Length {declared} > {cap} B")
                body = b""
                wanted = accept_any_type or _media_type(ctype) in limits.content_types
                if wanted and not 300 <= response.status_code < 400:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > cap:
                            raise BodyTooLargeError(url, f"body passed {cap} B")
                        chunks.append(chunk)
                    body = b"".join(chunks)
                return Fetched(url, response.status_code, ctype, body, location,
                               time.monotonic() - started, response.charset_encoding)
    except FetchError:
        raise
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise FetchTimeoutError(url, type(exc).__name__) from exc
    except httpx.HTTPError as exc:  # transport errors, protocol garbage, bad encodings
        raise ConnectError(url, f"{type(exc).__name__}: {exc}"[:300]) from exc
    except (ValueError, UnicodeError) as exc:  # h11 rejects some garbage with a ValueError
        raise ConnectError(url, f"{type(exc).__name__}: {exc}"[:300]) from exc
