"""kill -9 mid-crawl and resume; two crawler processes sharing one Bloom filter and one
frontier in a real Redis; both checked on the synthetic web server's own request log."""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

import pytest
from tests.support.crawl import synthetic_web

from bazaar import localservers
from bazaar.crawler.synthetic import SyntheticWeb, WebSpec
from bazaar.processes import Child, eventually


def _identity(url: str) -> str:
    rest = url.split("://", 1)[1]
    hostport, _, path = rest.partition("/")
    path, _, query = ("/" + path).partition("?")
    return SyntheticWeb.identity(hostport.rsplit(":", 1)[0], path, query)[0]


@pytest.mark.timeout(1200)
def test_kill_9_then_resume_fetches_nothing_twice(tmp_path: Path) -> None:
    spec = WebSpec(hosts=200, pages=3, links=5, traps=False)
    state = tmp_path / "state"
    with synthetic_web(spec, tmp_path) as web:
        argv = web.crawl_argv("--state", str(state), "--dedup", "bloom",
                              "--per-host-delay", "0.05")
        first = Child(argv, name="crawl-1", log=tmp_path / "crawl-1.log").spawn()
        try:
            eventually(lambda: sum(web.page_requests().values()) >= 300, timeout=240,
                       what="the first crawl fetched 300 pages")
        finally:
            first.kill()
        assert first.returncode is not None and first.returncode < 0  # killed, not finished
        with sqlite3.connect(state / "crawl.db") as db:
            in_flight = {_identity(u) for (u,) in
                         db.execute("SELECT url FROM queue WHERE claimed = 1")}
        second = Child(argv, name="crawl-2", log=tmp_path / "crawl-2.log").spawn()
        assert second.wait(timeout=600) == 0, second.log_text(tail=3000)
        stats = json.loads(second.log_text()[second.log_text().index("{"):])
        assert stats["resumed_pages"] > 0 and stats["fetched"] > 0
        counts = web.page_requests()
        twice = {k for k, v in counts.items() if v > 1}
        # Only what was on the wire at the kill may be fetched again; nothing else.
        assert twice <= in_flight, sorted(twice - in_flight)[:10]
        assert len(in_flight) <= 32
        assert stats["refetched_after_crash"] == len(in_flight)
        assert not spec.normal_pages() - set(counts)


@pytest.mark.timeout(1200)
def test_two_processes_share_one_filter_and_frontier(
        tmp_path: Path, redis_server: localservers.LocalServer) -> None:
    spec = WebSpec(hosts=200, pages=3, links=5, traps=True)
    with synthetic_web(spec, tmp_path) as web:
        # The session's Redis is shared with other tests: a key of this run's own.
        argv = web.crawl_argv("--dedup", "redis", "--redis", redis_server.url,
                              "--redis-key", f"t:crawl:{uuid.uuid4().hex}",
                              "--expected-urls", "100000")
        a = Child(argv, name="crawl-a", log=tmp_path / "a.log").spawn()
        b = Child(argv, name="crawl-b", log=tmp_path / "b.log").spawn()
        assert a.wait(timeout=600) == 0, a.log_text(tail=3000)
        assert b.wait(timeout=600) == 0, b.log_text(tail=3000)
        sa = json.loads(a.log_text()[a.log_text().index("{"):])
        sb = json.loads(b.log_text()[b.log_text().index("{"):])
        counts = web.page_requests()
        twice = {k: v for k, v in counts.items() if v > 1}
        assert not twice, list(twice.items())[:10]
        assert not spec.normal_pages() - set(counts)
        print(f"split of the work: {sa['fetched']} + {sb['fetched']}")
        assert sa["fetched"] + sb["fetched"] == sum(counts.values())
