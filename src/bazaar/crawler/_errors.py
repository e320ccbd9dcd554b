"""One exception tree for the crawler; the CLI maps it to messages once, at the edge."""

from __future__ import annotations


class CrawlError(Exception):
    """Base of every error bazaar.crawler raises."""


class CrawlConfigError(CrawlError, ValueError):
    """A setting is out of range or inconsistent (raised before anything is fetched)."""


class InvalidURLError(CrawlError, ValueError):
    """A URL that cannot be crawled: no http(s) scheme, no host, an unencodable host."""


class StateError(CrawlError):
    """The crawl state directory cannot be used (another crawl holds it, other settings, damage)."""


class FetchError(CrawlError):
    """One fetch failed; ``reason`` is a short stable code counted in the crawl summary."""

    reason = "fetch-error"

    def __init__(self, url: str, detail: str = "") -> None:
        super().__init__(f"{url}: {detail or self.reason}")
        self.url = url
        self.detail = detail


class BodyTooLargeError(FetchError):
    """The body is over the limit: refused on Content-Length, or cut as soon as it passes."""

    reason = "too-large"


class FetchTimeoutError(FetchError):
    """Connect, read or the whole fetch took too long."""

    reason = "timeout"


class ConnectError(FetchError):
    """No connection, or the peer broke the protocol (garbage instead of HTTP)."""

    reason = "connect"
