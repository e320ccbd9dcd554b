"""How long to leave a host alone after each fetch (pure: times in, times out).

Heritrix's rule: wait max(Crawl-delay, factor * how long the last fetch took, a floor),
capped; a slow host gets proportionally more rest. One fetch per host at a time is the
frontier's job (a host is leased to one worker).
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.crawler._errors import CrawlConfigError


@dataclass(frozen=True)
class Politeness:
    """``floor`` and ``cap`` in seconds; ``factor`` times the last fetch's duration."""

    floor: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    respect_crawl_delay: bool = True

    def __post_init__(self) -> None:
        if not (0 <= self.floor <= self.cap) or self.factor < 0 or self.cap > 3600:
            raise CrawlConfigError(
                f"politeness needs 0 <= floor <= cap <= 3600 and factor >= 0, got floor="
                f"{self.floor} factor={self.factor} cap={self.cap}")

    def delay(self, last_fetch_seconds: float, crawl_delay: float = 0.0) -> float:
        """Seconds between the end of one fetch and the start of the next on the host."""
        wait = max(self.floor, self.factor * max(last_fetch_seconds, 0.0))
        if self.respect_crawl_delay:
            # Crawl-delay is the site's own request: it is honoured even past the cap.
            return max(min(wait, self.cap), crawl_delay)
        return min(wait, self.cap)
