"""A frontier in Redis, shared by every crawler process of one crawl (``--dedup redis``).

Keys under ``<prefix>:``: ``q:<host>`` (a list of queued entries), ``due`` (a sorted set of
hosts with queued URLs, scored by when each may be fetched next), ``next`` (a hash: each
host's next allowed time, kept while it has nothing queued), ``leases`` (a sorted set:
hosts leased to a worker, scored by when the lease expires), ``inflight`` (a hash: the entry
each lease is fetching) and ``queued`` (a counter). Every step is one Lua script, so two
processes never lease the same host: one connection per host across the whole crawl.

A process killed mid-fetch leaves its leases; when one expires (``lease_seconds``, longer
than any fetch) the next claim puts its URL back at the front of its host's queue.
Times are wall-clock seconds from the claiming process (the processes share a machine or
synchronised clocks).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bazaar.crawler._errors import StateError
from bazaar.crawler._store import Entry

_CLAIM = """
local p, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', p..':leases', '-inf', now, 'LIMIT', 0, 16)
for _, h in ipairs(expired) do
  redis.call('ZREM', p..':leases', h)
  local e = redis.call('HGET', p..':inflight', h)
  if e then
    redis.call('HDEL', p..':inflight', h)
    redis.call('LPUSH', p..':q:'..h, e)
    redis.call('INCR', p..':queued')
  end
  if redis.call('LLEN', p..':q:'..h) > 0 then redis.call('ZADD', p..':due', now, h) end
end
local due = redis.call('ZRANGEBYSCORE', p..':due', '-inf', now, 'LIMIT', 0, 1)
if #due == 0 then
  local first = redis.call('ZRANGE', p..':due', 0, 0, 'WITHSCORES')
  if #first == 0 then return {0, tostring(redis.call('ZCARD', p..':leases'))} end
  return {1, first[2]}
end
local h = due[1]
redis.call('ZREM', p..':due', h)
local e = redis.call('LPOP', p..':q:'..h)
redis.call('DECR', p..':queued')
redis.call('ZADD', p..':leases', now + ttl, h)
redis.call('HSET', p..':inflight', h, e)
return {2, h, e}
"""

_PUSH = """
local p = ARGV[1]
for i = 2, #ARGV, 2 do
  local h, e = ARGV[i], ARGV[i + 1]
  redis.call('RPUSH', p..':q:'..h, e)
  redis.call('INCR', p..':queued')
  if not redis.call('ZSCORE', p..':leases', h) then
    local t = redis.call('HGET', p..':next', h) or '0'
    redis.call('ZADD', p..':due', 'NX', t, h)
  end
end
return 1
"""

_RELEASE = """
local p, h, t, back = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('ZREM', p..':leases', h)
redis.call('HDEL', p..':inflight', h)
redis.call('HSET', p..':next', h, t)
if back ~= '' then
  redis.call('LPUSH', p..':q:'..h, back)
  redis.call('INCR', p..':queued')
end
if redis.call('LLEN', p..':q:'..h) > 0 then redis.call('ZADD', p..':due', t, h) end
return 1
"""


def _encode(e: Entry) -> str:
    return json.dumps([e.url, e.depth, e.hops], separators=(",", ":"))


class RedisFrontier:
    """The :class:`~bazaar.crawler._frontier.Frontier` protocol over one Redis."""

    def __init__(self, client: aioredis.Redis, prefix: str, *, lease_seconds: float = 120.0,
                 poll: float = 0.02) -> None:
        self._r = client
        self._prefix = prefix
        self._lease = lease_seconds
        self._poll = poll
        self._stopped = False
        self._claim: Any = client.register_script(_CLAIM)
        self._push: Any = client.register_script(_PUSH)
        self._release: Any = client.register_script(_RELEASE)

    @classmethod
    def from_url(cls, url: str, prefix: str) -> RedisFrontier:
        return cls(aioredis.Redis.from_url(url), prefix)

    def _wall(self, monotonic: float) -> float:
        return monotonic - time.monotonic() + time.time()

    async def claim(self) -> Entry | None:
        while not self._stopped:
            try:
                got = await self._claim(args=[self._prefix, time.time(), self._lease])
            except RedisError as exc:
                raise StateError(f"the shared frontier is unreachable: {exc}") from exc
            kind = int(got[0])
            if kind == 2:
                host = got[1].decode()
                url, depth, hops = json.loads(got[2])
                return Entry(url, host, int(depth), int(hops))
            if kind == 0 and int(got[1]) == 0:
                return None
            wait = self._poll if kind == 0 else min(max(float(got[1]) - time.time(), 0.0),
                                                     self._poll * 5)
            await asyncio.sleep(max(wait, 0.001))
        return None

    async def push(self, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        args: list[Any] = [self._prefix]
        for e in entries:
            args += [e.host, _encode(e)]
        try:
            await self._push(args=args)
        except RedisError as exc:
            raise StateError(f"the shared frontier is unreachable: {exc}") from exc

    async def release(self, host: str, ready_at: float, *, back: Entry | None = None) -> None:
        try:
            await self._release(args=[self._prefix, host, self._wall(ready_at),
                                      _encode(back) if back is not None else ""])
        except RedisError as exc:
            raise StateError(f"the shared frontier is unreachable: {exc}") from exc

    async def sizes(self) -> tuple[int, int]:
        queued = await self._r.get(f"{self._prefix}:queued")
        leased = await self._r.zcard(f"{self._prefix}:leases")
        return int(queued or 0), int(leased)

    def stop(self) -> None:
        self._stopped = True
