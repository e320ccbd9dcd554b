"""Bazaar Crawl vs Scrapy on the same synthetic web, in the same run.

The synthetic web (``bazaar.crawler.synthetic``, 1,000 hosts, ``--quick`` 300) is one server
process on loopback; both crawlers run as their own processes with equal politeness: robots.txt
obeyed, one request at a time per host, no extra delay, 64 requests in flight, the same user
agent, the same allowed domain. Link spellings are limited to those w3lib's canonicalisation
(Scrapy's dupefilter) merges too, so both crawl the same set of pages once.
Pages/s is measured on the server: distinct pages served / (last request - first request).
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

from bazaar.crawler.synthetic import WebSpec, read_log, serve_argv
from bazaar.processes import Child, free_port

CONCURRENCY = 64
AGENT = "BazaarBench/1.0"


def _scrapy_main(seed: str) -> None:  # runs in its own process
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from scrapy.resolver import CachingThreadedResolver
    from twisted.internet import defer

    class LocalhostResolver(CachingThreadedResolver):  # type: ignore[misc]
        def getHostByName(self, name: str, timeout: object = None) -> object:
            if name.endswith(".localhost"):
                return defer.succeed("127.0.0.1")
            return super().getHostByName(name, timeout)

    class Synthetic(scrapy.Spider):  # type: ignore[misc]
        name = "synthetic"
        allowed_domains = ["web.localhost"]
        start_urls = [seed]

        def parse(self, response: object) -> object:
            for href in response.css("a::attr(href)").getall():  # type: ignore[attr-defined]
                yield response.follow(href, callback=self.parse)  # type: ignore[attr-defined]

    sys.modules["__main__"].LocalhostResolver = LocalhostResolver  # type: ignore[attr-defined]
    process = CrawlerProcess(settings={
        "ROBOTSTXT_OBEY": True, "USER_AGENT": AGENT, "CONCURRENT_REQUESTS": CONCURRENCY,
        "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "DOWNLOAD_DELAY": 0,
        "RANDOMIZE_DOWNLOAD_DELAY": False, "AUTOTHROTTLE_ENABLED": False,
        "LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False, "COOKIES_ENABLED": False,
        "DNS_RESOLVER": "__main__.LocalhostResolver", "RETRY_ENABLED": False,
        "DOWNLOAD_MAXSIZE": 2 * 1024 * 1024, "DEPTH_PRIORITY": 0,
    })
    process.crawl(Synthetic)
    process.start()


def _measure(port: int, since: int, argv: list[str], log: Path) -> tuple[float, int, int, float]:
    started = time.monotonic()
    child = Child(argv, name=argv[2], log=log).spawn()
    code = child.wait(timeout=3600)
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"{argv[:4]} failed ({code}): {child.log_text(tail=2000)}")
    entries = read_log(port)[since:]
    pages = [e for e in entries if not e[3].startswith("/robots")]
    distinct = len(collections.Counter(e[2] for e in pages))
    span = max(e[0] for e in pages) - min(e[0] for e in pages)
    return distinct / span, distinct, len(pages) - distinct, wall


def main(quick: bool) -> None:
    spec = WebSpec(hosts=300 if quick else 1000, pages=5 if quick else 10, links=8,
                   traps=False, variants="canonical-safe")
    port = free_port()
    seed = f"http://h0.web.localhost:{port}/p/0"
    with tempfile.TemporaryDirectory(prefix="bazaar-bench-crawl-") as d, \
            Child(serve_argv(port, spec), name="synthetic-web", log=Path(d) / "web.log",
                  ready_url=f"http://127.0.0.1:{port}/__health", ready_timeout=60):
        ours_argv = [sys.executable, "-m", "bazaar", "crawl", seed, "--allow-domain",
                     "web.localhost", "--resolve", "*.localhost=127.0.0.1", "--per-host-delay",
                     "0", "--delay-factor", "0", "--concurrency", str(CONCURRENCY),
                     "--user-agent", AGENT, "--quiet", "--json", "--dedup", "bloom"]
        scrapy_argv = [sys.executable, __file__, "--scrapy", seed]
        rows = []
        for name, argv in (("bazaar crawl", ours_argv), ("scrapy", scrapy_argv)):
            since = len(read_log(port))
            rate, distinct, dups, wall = _measure(port, since, argv, Path(d) / f"{name}.log")
            rows.append((name, rate, distinct, dups, wall))
            print(f"{name:14s} {rate:8.0f} pages/s  {distinct:6d} pages  {dups:4d} refetched  "
                  f"{wall:6.1f} s wall (with start-up)", flush=True)
        ours, theirs = rows[0][1], rows[1][1]
        print(f"bazaar crawl / scrapy: {ours / theirs:.2f}x pages/s (goal >= 3x; "
              f"goal >= 500 pages/s: {ours:.0f})")


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--scrapy":
    _scrapy_main(sys.argv[2])
