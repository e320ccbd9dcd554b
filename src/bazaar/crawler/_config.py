"""The crawl's settings: one typed object, checked once, before anything is fetched."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bazaar.crawler._canonical import Canonicalizer
from bazaar.crawler._errors import CrawlConfigError, InvalidURLError
from bazaar.crawler._fetcher import FetchLimits
from bazaar.crawler._politeness import Politeness

DedupMode = Literal["exact", "bloom", "redis"]
DEFAULT_USER_AGENT = "BazaarCrawl/0.1 (+https://github.com/bazaar/bazaar; polite)"


@dataclass(frozen=True)
class CrawlConfig:
    """What to crawl and how.

    ``max_pages_per_host`` is a per-host budget (the defence against endless generated
    pages, e.g. calendars). ``allow_domains`` empty means the seeds' hosts and their
    subdomains. ``expected_urls`` and ``error_rate`` size the Bloom filters.
    ``state_dir`` makes the crawl resumable (None: in memory). ``resolve`` maps host names
    (globs allowed) to addresses.
    """

    seeds: tuple[str, ...]
    max_pages: int | None = None
    max_depth: int | None = None
    max_pages_per_host: int | None = None
    allow_domains: tuple[str, ...] = ()
    concurrency: int = 16
    politeness: Politeness = field(default_factory=Politeness)
    limits: FetchLimits = field(default_factory=FetchLimits)
    user_agent: str = DEFAULT_USER_AGENT
    robots_agent: str = "BazaarCrawl"
    obey_robots: bool = True
    dedup: DedupMode = "exact"
    expected_urls: int = 1_000_000
    error_rate: float = 1e-6
    redis_url: str | None = None
    redis_key: str = "bazaar:crawl"
    fp_audit: bool = False
    state_dir: Path | None = None
    snapshot_every: int = 2000
    resolve: tuple[tuple[str, str], ...] = ()
    canonicalizer: Canonicalizer = field(default_factory=Canonicalizer)

    def __post_init__(self) -> None:
        if not self.seeds:
            raise CrawlConfigError("give at least one seed URL")
        for seed in self.seeds:
            try:
                self.canonicalizer(seed)
            except InvalidURLError as exc:
                raise CrawlConfigError(f"bad seed: {exc}") from exc
        if not 1 <= self.concurrency <= 4096:
            raise CrawlConfigError(f"concurrency must be 1..4096, got {self.concurrency}")
        if self.max_pages is not None and self.max_pages < 1:
            raise CrawlConfigError(f"max_pages must be >= 1, got {self.max_pages}")
        if self.max_pages_per_host is not None and self.max_pages_per_host < 1:
            raise CrawlConfigError(
                f"max_pages_per_host must be >= 1, got {self.max_pages_per_host}")
        if self.max_depth is not None and self.max_depth < 0:
            raise CrawlConfigError(f"max_depth must be >= 0, got {self.max_depth}")
        if self.dedup not in ("exact", "bloom", "redis"):
            raise CrawlConfigError(f"dedup must be exact, bloom or redis, got {self.dedup!r}")
        if self.dedup == "redis" and not self.redis_url:
            raise CrawlConfigError("--dedup redis needs a Redis URL (--redis)")
        if not 1 <= self.expected_urls <= 10**12:
            raise CrawlConfigError(f"expected_urls must be 1..1e12, got {self.expected_urls}")
        if not 0 < self.error_rate < 1:
            raise CrawlConfigError(f"error_rate must be in (0, 1), got {self.error_rate}")
        if self.fp_audit and self.dedup != "bloom":
            raise CrawlConfigError("the false-positive audit is for --dedup bloom")
        if self.snapshot_every < 1:
            raise CrawlConfigError("snapshot_every must be >= 1")
        if not self.user_agent.strip() or any(c in self.user_agent for c in "\r\n"):
            raise CrawlConfigError("the user agent must be one non-empty line")
