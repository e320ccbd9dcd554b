"""The fetcher's connection pool per host: a host's connection is reused on its next turn
(the crawler visits hosts in turn), and past the idle-host cap the least recently used idle
connections are closed, not leaked."""

from __future__ import annotations

import asyncio

import pytest
from tests.support.rawhttp import RawServer

from bazaar.crawler import CrawlConfigError, FetchLimits, fetch, make_client

HOSTS = ("a.test.localhost", "b.test.localhost", "c.test.localhost")


async def _round_robin(idle_hosts: int | None, rounds: int) -> tuple[RawServer, list[int]]:
    async with RawServer() as server:
        client = make_client(user_agent="t", limits=FetchLimits(), concurrency=1,
                             resolve={"*.localhost": "127.0.0.1"}, idle_hosts=idle_hosts)
        statuses = []
        async with client:
            for _ in range(rounds):
                for host in HOSTS:
                    got = await fetch(client, f"http://{host}:{server.port}/p", FetchLimits())
                    assert got.body == b"<html>/p</html>"
                    statuses.append(got.status)
            open_before_close = server.open_now
        for _ in range(200):  # the server sees the closes a moment later (bounded wait)
            if server.open_now == 0:
                break
            await asyncio.sleep(0.01)
        assert server.open_now == 0, "closing the client closes every connection"
        assert open_before_close <= (idle_hosts or len(HOSTS))
        return server, statuses


def test_each_host_keeps_its_connection_between_turns() -> None:
    server, statuses = asyncio.run(_round_robin(None, rounds=4))
    assert statuses == [200] * 12
    # one shared pool of `concurrency` (1) connections reconnected on every request: 12
    assert server.connections == {h: 1 for h in HOSTS}


def test_past_the_idle_cap_the_oldest_idle_connection_is_closed() -> None:
    server, statuses = asyncio.run(_round_robin(2, rounds=3))
    assert statuses == [200] * 9
    # two kept for three hosts in turn: the one needed next was always the one closed
    assert sum(server.connections.values()) == 9
    assert len(server.requests) == 9


def test_idle_cap_must_be_positive() -> None:
    with pytest.raises(CrawlConfigError):
        make_client(user_agent="t", limits=FetchLimits(), concurrency=1, idle_hosts=0)
