"""The synthetic web for crawler tests: started as a real process, its request log read back."""

from __future__ import annotations

import collections
import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bazaar.crawler import CrawlConfig, Politeness
from bazaar.crawler.synthetic import WebSpec, read_log, serve_argv
from bazaar.processes import Child, free_port

RESOLVE = (("*.localhost", "127.0.0.1"),)


@dataclass
class Web:
    spec: WebSpec
    port: int
    child: Child

    @property
    def seed(self) -> str:
        return f"http://h0.web.localhost:{self.port}/p/0"

    def log(self) -> list[tuple[float, str, str, str, int]]:
        return read_log(self.port)

    def page_requests(self) -> collections.Counter[str]:
        """Requests per page identity, robots.txt left out."""
        return collections.Counter(r[2] for r in self.log() if not r[3].startswith("/robots"))

    def config(self, **overrides: object) -> CrawlConfig:
        args: dict[str, object] = {
            "seeds": (self.seed,), "allow_domains": ("web.localhost",), "concurrency": 64,
            "politeness": Politeness(floor=0.0, factor=0.0), "resolve": RESOLVE,
            "max_pages_per_host": 12}
        args.update(overrides)
        return CrawlConfig(**args)  # type: ignore[arg-type]

    def crawl_argv(self, *extra: str) -> list[str]:
        return [sys.executable, "-m", "bazaar", "crawl", self.seed, "--allow-domain",
                "web.localhost", "--resolve", "*.localhost=127.0.0.1", "--per-host-delay", "0",
                "--delay-factor", "0", "--max-pages-per-host", "12", "--concurrency", "32",
                "--quiet", "--json", *extra]


@contextlib.contextmanager
def synthetic_web(spec: WebSpec, log_dir: Path) -> Iterator[Web]:
    port = free_port()
    child = Child(serve_argv(port, spec), name="synthetic-web", log=log_dir / "web.log",
                  ready_url=f"http://127.0.0.1:{port}/__health", ready_timeout=60)
    with child:
        yield Web(spec, port, child)
