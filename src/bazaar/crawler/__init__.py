"""Bazaar Crawl: a polite, resumable crawler that never fetches a canonical URL twice.

``await Crawler(CrawlConfig(seeds=("https://example.com/",))).run()`` crawls within limits and
returns :class:`CrawlStats`. The pieces are usable alone: :class:`Canonicalizer` (w3lib plus
RFC 3986 §6), :class:`RobotsRules` (protego, RFC 9309 failure rules), :class:`Politeness`
(Heritrix's delay rule), :func:`extract_links` (lxml), the fetcher's :class:`FetchLimits`, and
the seen-sets (exact, ``bazaar.bloom`` Bloom filter, Redis-shared Bloom filter).
The synthetic web the tests, the lab and the benchmark crawl is :mod:`bazaar.crawler.synthetic`.
"""

from bazaar.crawler._canonical import DEFAULT_DROP_PARAMS, Canonicalizer, host_of
from bazaar.crawler._config import DEFAULT_USER_AGENT, CrawlConfig, DedupMode
from bazaar.crawler._crawler import Crawler, CrawlStats
from bazaar.crawler._errors import (
    BodyTooLargeError,
    ConnectError,
    CrawlConfigError,
    CrawlError,
    FetchError,
    FetchTimeoutError,
    InvalidURLError,
    StateError,
)
from bazaar.crawler._fetcher import Fetched, FetchLimits, fetch, make_client
from bazaar.crawler._frontier import Frontier, LocalFrontier
from bazaar.crawler._links import extract_links
from bazaar.crawler._politeness import Politeness
from bazaar.crawler._redis_frontier import RedisFrontier
from bazaar.crawler._robots import RobotsRules
from bazaar.crawler._seen import BloomSeen, ExactSeen, RedisSeen, SeenSet
from bazaar.crawler._store import CrawlStore, Entry, PageRecord

__all__ = [
    "DEFAULT_DROP_PARAMS",
    "DEFAULT_USER_AGENT",
    "BloomSeen",
    "BodyTooLargeError",
    "Canonicalizer",
    "ConnectError",
    "CrawlConfig",
    "CrawlConfigError",
    "CrawlError",
    "CrawlStats",
    "CrawlStore",
    "Crawler",
    "DedupMode",
    "Entry",
    "ExactSeen",
    "FetchError",
    "FetchLimits",
    "FetchTimeoutError",
    "Fetched",
    "Frontier",
    "InvalidURLError",
    "LocalFrontier",
    "PageRecord",
    "Politeness",
    "RedisFrontier",
    "RedisSeen",
    "RobotsRules",
    "SeenSet",
    "StateError",
    "extract_links",
    "fetch",
    "host_of",
    "make_client",
]
