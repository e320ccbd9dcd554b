"""robots.txt rules (RFC 9309 failure handling) and the Heritrix delay rule."""

from __future__ import annotations

import pytest

from bazaar.crawler import CrawlConfigError, Politeness, RobotsRules

AGENT = "BazaarCrawl"


def test_rules_apply_longest_match_wins() -> None:
    body = b"User-agent: *\nDisallow: /private\nAllow: /private/open\nCrawl-delay: 2.5\n"
    rules = RobotsRules.from_response(200, body)
    assert not rules.allowed("http://a/private/x", AGENT)
    assert rules.allowed("http://a/private/open/x", AGENT)
    assert rules.allowed("http://a/public", AGENT)
    assert rules.crawl_delay(AGENT) == 2.5


def test_agent_specific_group() -> None:
    body = b"User-agent: BazaarCrawl\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
    rules = RobotsRules.from_response(200, body)
    assert not rules.allowed("http://a/x", AGENT)
    assert rules.allowed("http://a/x", "OtherBot")


def test_4xx_means_crawl_everything_5xx_means_nothing() -> None:
    assert RobotsRules.from_response(404, b"").allowed("http://a/x", AGENT)
    assert not RobotsRules.from_response(503, b"").allowed("http://a/x", AGENT)
    assert not RobotsRules.unreachable().allowed("http://a/x", AGENT)


def test_garbage_robots_is_not_an_error() -> None:
    rules = RobotsRules.from_response(200, b"\xff\xfe\x00garbage\nDisallow /x\n" * 100)
    assert rules.allowed("http://a/y", AGENT)
    assert rules.crawl_delay(AGENT) == 0.0


def test_delay_is_max_of_floor_factor_and_crawl_delay() -> None:
    p = Politeness(floor=1.0, factor=5.0, cap=30.0)
    assert p.delay(0.01) == 1.0                  # the floor
    assert p.delay(0.5) == 2.5                   # factor x last fetch time
    assert p.delay(100.0) == 30.0                # capped
    assert p.delay(0.01, crawl_delay=4.0) == 4.0  # the site's Crawl-delay
    assert p.delay(0.01, crawl_delay=60.0) == 60.0  # honoured past the cap
    assert Politeness(floor=0, factor=0, respect_crawl_delay=False).delay(1, 9) == 0


@pytest.mark.parametrize("kwargs", [{"floor": -1}, {"factor": -0.1},
                                    {"floor": 5, "cap": 1}, {"cap": 1e9}])
def test_bad_politeness_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(CrawlConfigError):
        Politeness(**kwargs)
