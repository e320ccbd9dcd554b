"""Servers that break HTTP: a raw-socket server on loopback answers each host's page with
garbage bytes, a never-ending header, a body longer than its Content-Length, a reset mid-body,
a 0-byte reply, a 10 MB chunked page. The crawler records an outcome for each, never crashes,
and goes on with the other hosts (a well-behaved one is crawled whole)."""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from pathlib import Path

from tests.support.rawhttp import RawRequest, RawServer, response

from bazaar.crawler import CrawlConfig, Crawler, CrawlStore, FetchLimits, Politeness


async def _misbehave(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
    name = request.host.split(".", 1)[0]
    if request.path == "/robots.txt":  # every host answers robots.txt properly
        writer.write(response(404, b"", "text/plain"))
        await writer.drain()
        return True
    if name == "good":
        links = b"<a href='/2'>next</a>" if request.path == "/1" else b""
        writer.write(response(200, b"<html>" + links + b"</html>"))
    elif name == "garbage":
        writer.write(random.Random(3).randbytes(5000))
    elif name == "endless":  # a header line that never ends (1 MiB, then hang up)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Endless: ")
        for _ in range(64):
            writer.write(b"a" * 16384)
            await writer.drain()
    elif name == "longer":  # says 20 bytes, sends 20 and 5,000 more on a keep-alive line
        body = b"<html><a href='/2'>x"
        writer.write(response(200, body) + b"<a href='/3'>" * 400)
        await writer.drain()
        return True
    elif name == "reset":  # half a body, then RST
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000"
                     b"\r\n\r\n<html>" + b"z" * 1000)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif name == "empty":  # 0 bytes: hang up at once
        pass
    elif name == "chunked":  # 10 MB chunked, no Content-Length
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (65536, b"y" * 65536)
        for _ in range(160):
            writer.write(chunk)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
    await writer.drain()
    return False


def test_broken_servers_are_recorded_and_the_crawl_goes_on(tmp_path: Path) -> None:
    names = ("garbage", "endless", "longer", "reset", "empty", "chunked", "good")

    async def scenario() -> tuple[RawServer, object]:
        async with RawServer(_misbehave) as server:
            seeds = tuple(f"http://{n}.bad.localhost:{server.port}/1" for n in names)
            config = CrawlConfig(seeds=seeds, allow_domains=("bad.localhost",), concurrency=4,
                                 politeness=Politeness(floor=0.0, factor=0.0),
                                 resolve=(("*.localhost", "127.0.0.1"),),
                                 limits=FetchLimits(read_timeout=10, total_timeout=30),
                                 state_dir=tmp_path / "state")
            stats = await Crawler(config).run()
            return server, stats

    server, stats = asyncio.run(scenario())
    store = CrawlStore(tmp_path / "state" / "crawl.db")
    try:
        pages = {p.url.split("//", 1)[1].split(".", 1)[0] + p.url.rsplit("/", 1)[1]: p
                 for p in store.pages()}
    finally:
        store.close()
    outcome = {k: p.outcome for k, p in pages.items()}
    assert outcome["garbage1"] == "connect"
    assert outcome["endless1"] == "connect"   # h11 refuses the header long before 1 MiB
    assert outcome["reset1"] == "connect"
    assert outcome["empty1"] == "connect"
    assert outcome["chunked1"] == "too-large"  # cut at the 2 MiB default, not buffered
    # Content-Length wins: 20 bytes read. Its link was followed on the same keep-alive
    # connection, where h11 met the surplus bytes first: the next request failed and was
    # recorded (httpcore keeps a connection whose buffer holds surplus bytes; a fresh one
    # would give "ok"). The surplus was never parsed as a page.
    assert outcome["longer1"] == "ok" and pages["longer1"].size == 20
    assert outcome["longer2"] in ("ok", "connect")
    assert "longer3" not in pages
    # the well-behaved host was crawled whole, beside all that
    assert outcome["good1"] == outcome["good2"] == "ok"
    assert stats.fetched == len(pages) == 9  # type: ignore[attr-defined]
    assert {r.host.split(".", 1)[0] for r in server.requests} == set(names)
