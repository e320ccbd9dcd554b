"""A synthetic web on one loopback port: thousands of hosts, a deterministic link graph.

Every host is a name under ``web.localhost`` (``h0.web.localhost`` … plus the trap hosts),
all served by one process told apart by the ``Host`` header; crawlers reach it with a
resolve table (``*.localhost`` → 127.0.0.1). The server logs every request with the identity
of the page it served, computed by the server itself (not by the crawler's canonicaliser), so
tests count fetches per page on the server's side, with its timestamps.

* ``h<i>``: pages ``/p/<j>`` (j < pages) and their listing ``/p/<j>?sort=asc&view=list``;
  each page links to ``links`` pages chosen by a hash of (seed, i, j, k), most on its host,
  some on others, plus ``/p/<j+1>`` and ``h<i+1>/p/0`` so everything is reachable from
  ``h0/p/0``. Links are written in many spellings of one URL: case, dot segments, fragments,
  percent-encoding, argument order, tracking parameters, session ids in the query and the
  path, redirects (``/r/<j>`` → ``/p/<j>``).
* traps (``traps=True``): ``calendar`` (an endless next-month chain), ``traps`` (a redirect
  loop, an endless redirect chain, a 10 MB page with and without Content-Length, 404, 500,
  an image, a page of random bytes), ``slow`` (each page takes ``slow_seconds``),
  ``private`` (robots.txt forbids everything), ``delayed`` (``Crawl-delay: delay_seconds``).

``python -m bazaar.crawler.synthetic --port P [--hosts N …]`` serves it (start it with
``bazaar.processes.Child``); ``GET /__log`` on any host returns the request log (JSON lines),
``GET /__health`` answers 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import posixpath
import random
import re
import time
import zlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

DOMAIN = "web.localhost"
TRAP_HOSTS = ("calendar", "traps", "slow", "private", "delayed")
_SESSION = re.compile(r";(?:jsessionid|phpsessid|sid)=[^/?#]*", re.IGNORECASE)
_DROP = re.compile(r"^(utm_.*|sid|sessionid|jsessionid|fbclid|gclid)$", re.IGNORECASE)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class WebSpec:
    """The graph's shape. ``variants`` picks the link spellings: "all" (every trap of
    spelling, including session ids that change on every render) or "canonical-safe" (only
    spellings w3lib's canonicalisation already merges, for comparing crawlers fairly)."""

    hosts: int = 1000
    pages: int = 20
    links: int = 10
    seed: int = 1
    cross_host: float = 0.3
    traps: bool = True
    variants: str = "all"
    slow_seconds: float = 0.3
    delay_seconds: float = 0.5
    big_bytes: int = 10 * 1024 * 1024
    filler_bytes: int = 1500

    def host(self, i: int) -> str:
        return f"h{i}.{DOMAIN}"

    def normal_pages(self) -> set[str]:
        """Identities of every page of the normal hosts (pages and listings)."""
        out = set()
        for i in range(self.hosts):
            for j in range(self.pages):
                out.add(f"{self.host(i)}/p/{j}")
                out.add(f"{self.host(i)}/p/{j}?list")
        return out


def _mix(*parts: int) -> int:
    """A stable 32-bit hash (Python's ``hash`` changes between processes)."""
    return zlib.crc32(",".join(map(str, parts)).encode())


class SyntheticWeb:
    """The ASGI app. ``log`` holds (wall time, host, identity, raw target, status)."""

    def __init__(self, spec: WebSpec, port: int) -> None:
        self.spec = spec
        self.port = port
        self.log: list[tuple[float, str, str, str, int]] = []
        self._render = 0
        self._filler = ("<p>" + "lorem ipsum dolor sit amet " * (spec.filler_bytes // 27)
                        + "</p>")

    # -- links -----------------------------------------------------------------------------
    def _abs(self, host: str, path: str) -> str:
        return f"http://{host}:{self.port}{path}"

    def _spell(self, here: str, host: str, j: int, listing: bool, k: int) -> str:
        """One spelling of ``host``/p/j (listing: its ?sort=asc&view=list page)."""
        spec = self.spec
        query = ("?view=list&sort=asc" if k % 2 else "?sort=asc&view=list") if listing else ""
        safe = spec.variants != "all"
        choice = _mix(spec.seed, k, j, len(host)) % (6 if safe else 10)
        same = host == here
        if choice == 0:
            return self._abs(host, f"/p/{j}{query}")
        if choice == 1:
            return f"/p/{j}{query}" if same else f"//{host}:{self.port}/p/{j}{query}"
        if choice == 2:
            return f"HTTP://{host.upper()}:{self.port}/p/{j}{query}"
        if choice == 3:
            return self._abs(host, f"/x/../p/./{j}{query}")
        if choice == 4:
            return self._abs(host, f"/p/{j}{query}#part-{k}")
        if choice == 5:
            return self._abs(host, f"/%70/{j}{query}")
        if choice == 6:
            sep = "&" if query else "?"
            return self._abs(host, f"/p/{j}{query}{sep}utm_source=news&utm_medium=k{k}")
        if choice == 7:
            self._render += 1
            sep = "&" if query else "?"
            return self._abs(host, f"/p/{j}{query}{sep}sid={self._render:x}{k}")
        if choice == 8:
            return self._abs(host, f"/p/{j};jsessionid=S{k}X{query}")
        return self._abs(host, f"/r/{j}") if not listing else self._abs(host, f"/p/{j}{query}")

    def _page_links(self, i: int, j: int) -> Iterator[str]:
        spec = self.spec
        here = spec.host(i)
        if j + 1 < spec.pages:
            yield self._spell(here, here, j + 1, False, 0)
        if j == 0 and i + 1 < spec.hosts:
            yield self._spell(here, spec.host(i + 1), 0, False, 1)
        yield self._spell(here, here, j, True, 2)  # its own listing
        for k in range(spec.links):
            h = _mix(spec.seed, i, j, k)
            ti = (h >> 8) % spec.hosts if (h & 0xFF) < spec.cross_host * 256 else i
            tj = (h >> 20) % spec.pages
            yield self._spell(here, spec.host(ti), tj, bool((h >> 4) & 1), k + 3)
        if spec.traps and i == 0 and j == 0:
            for trap in ("calendar", "traps", "slow", "private", "delayed"):
                yield self._abs(f"{trap}.{DOMAIN}", "/")

    def _html(self, title: str, links: Iterator[str] | list[str]) -> bytes:
        anchors = "".join(f'<li><a href="{u}">{n}</a></li>' for n, u in enumerate(links))
        return (f"<!doctype html><html><head><title>{title}</title></head><body><h1>{title}"
                f"</h1><ul>{anchors}</ul>{self._filler}</body></html>").encode()

    # -- identity of a request, as the server sees it --------------------------------------
    @staticmethod
    def identity(host: str, path: str, query: str) -> tuple[str, str]:
        """(identity, normalised path): the page a request gets, whatever its spelling."""
        path = _SESSION.sub("", unquote(path))
        path = posixpath.normpath(path) if path not in ("", "/") else "/"
        args = {k: v for k, v in parse_qsl(query, keep_blank_values=True) if not _DROP.match(k)}
        listing = args.get("sort") == "asc" and args.get("view") == "list"
        ident = f"{host}{path}" + ("?list" if listing else "")
        return ident, path

    # -- ASGI ---------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1").rsplit(":", 1)[0].lower()
        raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        if scope["path"] == "/__log":
            lines = "".join(json.dumps(r) + "\n" for r in self.log)
            await _respond(send, 200, "application/x-ndjson", lines.encode())
            return
        if scope["path"] == "/__health":
            await _respond(send, 200, "text/plain", b"ok")
            return
        ident, path = self.identity(host, raw_path, query)
        status = await self._serve(send, host, path)
        self.log.append((time.time(), host, ident, raw_path + ("?" + query if query else ""),
                         status))

    async def _serve(self, send: Send, host: str, path: str) -> int:
        spec = self.spec
        name = host.removesuffix("." + DOMAIN)
        if path == "/robots.txt":
            body = "User-agent: *\nAllow: /\n"
            if name == "private":
                body = "User-agent: *\nDisallow: /\n"
            elif name == "delayed":
                body = f"User-agent: *\nCrawl-delay: {spec.delay_seconds}\n"
            elif name == "traps":
                body = "User-agent: *\nDisallow: /forbidden\n"
            return await _respond(send, 200, "text/plain", body.encode())
        if name.startswith("h") and name[1:].isdigit() and int(name[1:]) < spec.hosts:
            return await self._normal(send, int(name[1:]), path)
        if spec.traps and name in TRAP_HOSTS:
            return await self._trap(send, name, path)
        return await _respond(send, 404, "text/html", b"<html>no such host</html>")

    async def _normal(self, send: Send, i: int, path: str) -> int:
        spec = self.spec
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[1].isdigit() and int(parts[1]) < spec.pages:
            j = int(parts[1])
            if parts[0] == "r":
                return await _respond(send, 301, "text/html", b"", location=f"/p/{j}")
            if parts[0] == "p":
                body = self._html(f"h{i} page {j}", list(self._page_links(i, j)))
                return await _respond(send, 200, "text/html; charset=utf-8", body)
        return await _respond(send, 404, "text/html", b"<html>not found</html>")

    async def _trap(self, send: Send, name: str, path: str) -> int:
        spec = self.spec
        here = f"{name}.{DOMAIN}"
        if name == "calendar":
            m = re.fullmatch(r"/cal/(\d{1,6})/(\d{1,2})", path)
            y, mo = (int(m[1]), int(m[2])) if m else (2026, 1)
            ny, nm = (y + 1, 1) if mo == 12 else (y, mo + 1)
            links = [self._abs(here, f"/cal/{ny}/{nm}")]
            return await _respond(send, 200, "text/html", self._html(f"{y}-{mo}", links))
        if name == "traps":
            return await self._trap_page(send, here, path)
        if name == "slow":
            await asyncio.sleep(spec.slow_seconds)
        if name in ("slow", "private", "delayed"):
            m = re.fullmatch(r"/p/(\d+)", path)
            j = int(m[1]) if m else 0
            links = [self._abs(here, f"/p/{j + 1}")] if j + 1 < 5 else []
            return await _respond(send, 200, "text/html", self._html(f"{name} {j}", links))
        return await _respond(send, 404, "text/html", b"")

    async def _trap_page(self, send: Send, here: str, path: str) -> int:
        spec = self.spec
        if path == "/":
            links = ["/loop/a", "/chain/0", "/big", "/big-chunked", "/missing", "/error",
                     "/image.png", "/garbage", "/forbidden/x", "mailto:x@y", "javascript:0",
                     "http://[::1", "ftp://elsewhere/", "http://outside.example/"]
            return await _respond(send, 200, "text/html", self._html("traps", links))
        if path == "/loop/a":
            return await _respond(send, 302, "text/html", b"", location="/loop/b")
        if path == "/loop/b":
            return await _respond(send, 302, "text/html", b"", location="/loop/a")
        m = re.fullmatch(r"/chain/(\d+)", path)
        if m:
            return await _respond(send, 302, "text/html", b"",
                                  location=f"/chain/{int(m[1]) + 1}")
        if path == "/big":
            return await _respond(send, 200, "text/html", b"<html>" + b"x" * spec.big_bytes)
        if path == "/big-chunked":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html")]})
            chunk = b"y" * 65536
            try:
                for _ in range(spec.big_bytes // len(chunk)):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            except OSError:  # the client hung up, as it should
                pass
            return 200
        if path == "/error":
            return await _respond(send, 500, "text/html", b"<html>boom</html>")
        if path == "/image.png":
            return await _respond(send, 200, "image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 4096)
        if path == "/garbage":
            noise = random.Random(7).randbytes(20_000)
            return await _respond(send, 200, "text/html", b"<html><a href='/p/\xff\xfe'>" + noise)
        return await _respond(send, 404, "text/html", b"<html>not found</html>")


async def _respond(send: Send, status: int, ctype: str, body: bytes, *,
                   location: str | None = None) -> int:
    headers = [(b"content-type", ctype.encode()), (b"content-length", b"%d" % len(body))]
    if location is not None:
        headers.append((b"location", location.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status


def read_log(port: int) -> list[tuple[float, str, str, str, int]]:
    """The server's request log, fetched from ``/__log``."""
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/__log", timeout=60).text
    return [tuple(json.loads(line)) for line in text.splitlines()]  # type: ignore[misc]


def serve_argv(port: int, spec: WebSpec) -> list[str]:
    """The command line that serves ``spec`` on ``port`` (for ``processes.Child``)."""
    import sys

    argv = [sys.executable, "-m", "bazaar.crawler.synthetic", "--port", str(port)]
    for key, value in asdict(spec).items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    from bazaar.web import Limits, uvicorn_config

    parser = argparse.ArgumentParser(description="Serve Bazaar's synthetic web on loopback.")
    parser.add_argument("--port", type=int, required=True)
    defaults = WebSpec()
    for key, value in asdict(defaults).items():
        kind: Any = (lambda s: s.lower() == "true") if isinstance(value, bool) else type(value)
        parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=value)
    args = vars(parser.parse_args(argv))
    port = args.pop("port")
    spec = WebSpec(**args)
    app = SyntheticWeb(spec, port)
    limits = Limits(max_connections=8192, keep_alive_s=60)
    config = uvicorn_config(app, limits, host="127.0.0.1", port=port, log_level="warning",
                            backlog=4096)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
