"""robots.txt (RFC 9309) per host, parsed by protego, with the RFC's rules for failures.

* 2xx: the rules apply (protego: longest match, Allow wins ties, ``*`` and ``$``).
* 4xx ("unavailable", RFC 9309 §2.3.1.3): crawl everything.
* 5xx, a network error or a timeout ("unreachable", §2.3.1.4): crawl nothing of that host
  for now (we keep the verdict for the crawl; a restart asks again).
* redirects are followed by the fetcher (at most five hops, §2.3.1.2).
* bodies past 500 KiB are cut (§2.5 asks for at least 500 KiB to be parsed).
"""

from __future__ import annotations

from dataclasses import dataclass

from protego import Protego

ROBOTS_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class RobotsRules:
    """What one host's robots.txt says to our user agent."""

    parser: Protego | None
    allow_all: bool = False
    status: str = "ok"

    @classmethod
    def from_response(cls, status: int, body: bytes) -> RobotsRules:
        if 200 <= status < 300:
            text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
            return cls(Protego.parse(text), status="ok")
        if 400 <= status < 500:
            return cls(None, allow_all=True, status="unavailable")
        return cls.unreachable()

    @classmethod
    def unreachable(cls) -> RobotsRules:
        return cls(None, allow_all=False, status="unreachable")

    def allowed(self, url: str, agent: str) -> bool:
        if self.parser is None:
            return self.allow_all
        return bool(self.parser.can_fetch(url, agent))

    def crawl_delay(self, agent: str) -> float:
        """The Crawl-delay for ``agent`` in seconds (0 when absent; not part of RFC 9309)."""
        if self.parser is None:
            return 0.0
        delay = self.parser.crawl_delay(agent)
        return float(delay) if delay else 0.0
