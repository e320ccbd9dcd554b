"""The local frontier's schedule, the durable store, link extraction, the config checks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bazaar.crawler import (
    CrawlConfig,
    CrawlConfigError,
    CrawlStore,
    Entry,
    ExactSeen,
    FetchLimits,
    LocalFrontier,
    PageRecord,
    extract_links,
)


def _e(url: str, host: str) -> Entry:
    return Entry(url, host, 0, 0)


def test_one_lease_per_host_and_delays_honoured() -> None:
    async def scenario() -> list[str]:
        f = LocalFrontier([_e("a1", "a"), _e("a2", "a"), _e("b1", "b")])
        first = await f.claim()
        second = await f.claim()
        assert first is not None and second is not None
        assert {first.host, second.host} == {"a", "b"}  # never two of host a at once
        assert await f.sizes() == (1, 2)
        await f.release("a", time.monotonic() + 0.2)
        await f.release("b", time.monotonic())
        started = time.monotonic()
        third = await f.claim()
        assert third is not None and third.url == "a2"
        assert time.monotonic() - started >= 0.15  # waited for a's delay
        await f.release("a", time.monotonic())
        assert await f.claim() is None  # nothing queued, nothing in flight
        return [first.url, second.url, third.url]

    assert sorted(asyncio.run(scenario())) == ["a1", "a2", "b1"]


def test_release_back_puts_the_entry_first_and_stop_ends_waits() -> None:
    async def scenario() -> None:
        f = LocalFrontier([_e("a1", "a"), _e("a2", "a")])
        got = await f.claim()
        assert got is not None
        await f.release("a", time.monotonic(), back=got)
        again = await f.claim()
        assert again == got
        waiter = asyncio.create_task(f.claim())  # a is leased: this waits
        await asyncio.sleep(0.05)
        f.stop()
        assert await asyncio.wait_for(waiter, 5) is None

    asyncio.run(scenario())


def test_store_commits_a_page_atomically_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "crawl.db"
    store = CrawlStore(path)
    assert store.check_meta({"dedup": "exact"})
    seed = Entry("http://a/", "a", 0, 0, store.next_seq())
    store.commit_page(None, None, [seed], exact=True, journal=False)
    store.claim(seed.url)
    child = Entry("http://a/x", "a", 1, 0, store.next_seq())
    store.commit_page(seed, PageRecord(seed.url, 200, "text/html", 10, 1, "ok", 1.0, 0.1),
                      [child], exact=True, journal=False)
    store.close()
    again = CrawlStore(path)
    assert not again.check_meta({"dedup": "exact"})
    assert [e.url for e in again.queued()] == ["http://a/x"]
    assert sorted(again.exact_seen()) == ["http://a/", "http://a/x"]
    assert again.counts() == {"ok": 1}
    assert again.next_seq() > child.seq
    with pytest.raises(Exception, match="other settings"):
        again.check_meta({"dedup": "bloom"})


def test_exact_seen_answers_once() -> None:
    seen = ExactSeen(["a"])
    assert seen.add_many(["a", "b", "c"]) == [False, True, True]
    assert seen.add_many(["b"]) == [False]


def test_links_resolved_filtered_and_garbage_tolerated() -> None:
    html = (b"<html><head><base href='/base/'></head><body><a href='x'>x</a>"
            b"<a href='http://o.com/y#f'>y</a><a href='mailto:a@b'>m</a>"
            b"<a href='javascript:void(0)'>j</a><a rel='nofollow' href='/no'>n</a>"
            b"<area href='/area'><a>no href</a></body></html>")
    assert extract_links(html, "http://h.com/dir/page") == [
        "http://h.com/base/x", "http://o.com/y#f", "http://h.com/area"]
    assert extract_links(b"", "http://h.com/") == []
    assert extract_links(b"\x00\xff\xfe" * 1000, "http://h.com/") == []
    assert extract_links(b"<a href='/\xff\xfe'>bad bytes</a>", "http://h.com/")  # no crash


@pytest.mark.parametrize("kwargs", [
    {"seeds": ()}, {"concurrency": 0}, {"max_pages": 0}, {"max_depth": -1},
    {"dedup": "magic"}, {"dedup": "redis"}, {"error_rate": 1.5}, {"expected_urls": 0},
    {"fp_audit": True}, {"user_agent": "a\r\nX-Evil: 1"}, {"max_pages_per_host": 0},
])
def test_bad_config_refused_before_anything_runs(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {"seeds": ("http://a.com/",)} | kwargs
    with pytest.raises(CrawlConfigError):
        CrawlConfig(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("kwargs", [{"max_body": 0}, {"connect_timeout": 0},
                                    {"max_redirects": 99}])
def test_bad_limits_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(CrawlConfigError):
        FetchLimits(**kwargs)  # type: ignore[arg-type]
