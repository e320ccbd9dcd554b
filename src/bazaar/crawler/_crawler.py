"""The crawl loop: claim a due URL, robots, fetch within limits, extract, dedup, commit.

Workers are asyncio tasks over one httpx client. Each page's effects are committed in one
transaction before its host's lease ends (see :mod:`bazaar.crawler._store`), so a crash
loses at most the pages in flight, which a restart fetches again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from bazaar.bloom import BloomFilter, CorruptFilterError
from bazaar.crawler._canonical import host_of
from bazaar.crawler._config import CrawlConfig
from bazaar.crawler._errors import FetchError, InvalidURLError, StateError
from bazaar.crawler._fetcher import fetch, make_client
from bazaar.crawler._frontier import Frontier, LocalFrontier
from bazaar.crawler._links import extract_links
from bazaar.crawler._robots import RobotsRules
from bazaar.crawler._seen import BloomSeen, ExactSeen, RedisSeen, SeenSet
from bazaar.crawler._store import CrawlStore, Entry, PageRecord
from bazaar.processes import DirLock

_BLOOM_FILE = "seen.bloom"
_VERDICTS_KEPT = 200_000  # raw link spellings whose canonical form is remembered (~40 MB)


@dataclass
class CrawlStats:
    """Counts so far; ``outcomes`` counts fetched pages by outcome ("ok", "http-404", …)."""

    fetched: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    robots_fetched: int = 0
    robots_blocked: int = 0
    over_host_budget: int = 0
    duplicates: int = 0
    offsite: int = 0
    too_deep: int = 0
    invalid: int = 0
    false_positives: int = 0
    refetched_after_crash: int = 0
    resumed_pages: int = 0
    bytes: int = 0
    queued: int = 0
    in_flight: int = 0
    elapsed: float = 0.0
    dedup: str = "exact"
    dedup_memory_bytes: int = 0

    @property
    def pages_per_second(self) -> float:
        return self.fetched / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["outcomes"] = dict(sorted(self.outcomes.items()))
        out["pages_per_second"] = round(self.pages_per_second, 1)
        out["elapsed"] = round(self.elapsed, 3)
        return out


class Crawler:
    """One crawl. ``await Crawler(config).run()`` returns its :class:`CrawlStats`."""

    def __init__(self, config: CrawlConfig, *,
                 on_progress: Callable[[CrawlStats], None] | None = None,
                 progress_every: float = 0.5) -> None:
        self.config = config
        self.stats = CrawlStats(dedup=config.dedup)
        self._on_progress = on_progress
        self._progress_every = progress_every
        self._robots: dict[str, RobotsRules] = {}
        self._stopping = False
        self._claims = 0
        self._per_host: Counter[str] = Counter()
        self._since_snapshot = 0
        self._verdicts: dict[str, tuple[str, str] | str] = {}
        self._frontier: Frontier | None = None
        self._local = config.dedup != "redis"  # the frontier is in the local store
        self._allowed = tuple(d.lower().strip(".") for d in config.allow_domains) or tuple(
            sorted({host_of(config.canonicalizer(s)).rsplit(":", 1)[0] for s in config.seeds}))

    # -- control ------------------------------------------------------------------------------
    def stop(self) -> None:
        """Finish the pages in flight, then return (the state stays resumable)."""
        self._stopping = True
        if self._frontier is not None:
            self._frontier.stop()

    # -- set-up -------------------------------------------------------------------------------
    def _settings(self) -> dict[str, object]:
        c = self.config
        return {"dedup": c.dedup, "expected_urls": c.expected_urls, "error_rate": c.error_rate,
                "redis_key": c.redis_key if c.dedup == "redis" else None}

    def _open_seen(self, store: CrawlStore) -> SeenSet:
        c = self.config
        if c.dedup == "exact":
            return ExactSeen(store.exact_seen())
        if c.dedup == "redis":
            import redis

            assert c.redis_url is not None
            client = redis.Redis.from_url(c.redis_url)
            return RedisSeen(client, f"{c.redis_key}:seen", c.expected_urls, c.error_rate)
        bloom = None
        if c.state_dir is not None and (c.state_dir / _BLOOM_FILE).exists():
            try:
                bloom = BloomFilter.load(c.state_dir / _BLOOM_FILE, mmap=False)
            except CorruptFilterError as exc:
                raise StateError(f"the saved seen-set is damaged: {exc}") from exc
        seen = BloomSeen(c.expected_urls, c.error_rate, bloom)
        journal = store.journal()
        if journal:
            seen.add_many(journal)
        return seen

    def _snapshot(self, seen: SeenSet, store: CrawlStore, force: bool = False) -> None:
        if not isinstance(seen, BloomSeen) or self.config.state_dir is None:
            return
        if force or self._since_snapshot >= self.config.snapshot_every:
            seen.filter.save(self.config.state_dir / _BLOOM_FILE)
            store.truncate_journal()
            self._since_snapshot = 0

    # -- admission: canonicalise, filter, dedup ----------------------------------------------
    def _host_allowed(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return any(name == d or name.endswith("." + d) for d in self._allowed)

    def _verdict(self, raw: str) -> tuple[str, str] | str:
        """(canonical URL, host), or "invalid" / "offsite"; remembered for the next page that
        links to the same spelling (pages of a site share most links: the profile of a crawl
        of the synthetic web spent a quarter of its time canonicalising the same strings)."""
        verdict: tuple[str, str] | str
        try:
            url = self.config.canonicalizer(raw)
        except InvalidURLError:
            verdict = "invalid"
        else:
            host = host_of(url)
            verdict = (url, host) if self._host_allowed(host) else "offsite"
        if len(self._verdicts) >= _VERDICTS_KEPT:
            self._verdicts.clear()
        self._verdicts[raw] = verdict
        return verdict

    def _admit(self, seen: SeenSet, store: CrawlStore,
               candidates: Sequence[tuple[str, int, int]]
               ) -> tuple[list[Entry], list[str], list[str]]:
        c = self.config
        fresh: dict[str, tuple[str, int, int]] = {}
        repeats = 0
        for raw, depth, hops in candidates:
            if c.max_depth is not None and depth > c.max_depth:
                self.stats.too_deep += 1
                continue
            verdict = self._verdicts.get(raw)
            if verdict is None:
                verdict = self._verdict(raw)
            if isinstance(verdict, str):
                if verdict == "invalid":
                    self.stats.invalid += 1
                else:
                    self.stats.offsite += 1
                continue
            url, host = verdict
            if url in fresh:
                repeats += 1
                continue
            fresh[url] = (host, depth, hops)
        urls = list(fresh)
        answers = seen.add_many(urls)
        new, dropped = [], []
        for url, is_new in zip(urls, answers, strict=True):
            if is_new:
                host, depth, hops = fresh[url]
                new.append(Entry(url, host, depth, hops, store.next_seq()))
            else:
                dropped.append(url)
        self.stats.duplicates += repeats + len(dropped)
        audit, false_pos = [], []
        if c.fp_audit:
            audit = [e.url for e in new]
            if dropped:
                logged = store.known_fingerprints(dropped)
                false_pos = [u for u in dropped if u not in logged]
        return new, audit, false_pos

    # -- one URL ------------------------------------------------------------------------------
    async def _robots_for(self, client: httpx.AsyncClient, entry: Entry) -> float:
        scheme = entry.url.split("://", 1)[0]
        url = f"{scheme}://{entry.host}/robots.txt"
        started = time.monotonic()
        status, body = 0, b""
        for _ in range(5):  # RFC 9309 §2.3.1.2: follow at least five redirects
            try:
                got = await fetch(client, url, self.config.limits, accept_any_type=True,
                                  max_body=512 * 1024)
            except FetchError:
                status = 0
                break
            status, body = got.status, got.body
            if 300 <= status < 400 and got.location:
                url = urljoin(url, got.location)
                continue
            break
        if status == 0 or 300 <= status < 400:
            rules = RobotsRules.unreachable()
        else:
            rules = RobotsRules.from_response(status, body)
        self._robots[entry.host] = rules
        self.stats.robots_fetched += 1
        return time.monotonic() - started

    async def _visit(self, client: httpx.AsyncClient, seen: SeenSet, store: CrawlStore,
                     frontier: Frontier, entry: Entry) -> None:
        c = self.config
        rules = self._robots.get(entry.host)
        if c.obey_robots and rules is None:
            took = await self._robots_for(client, entry)
            rules = self._robots[entry.host]
            delay = c.politeness.delay(took, rules.crawl_delay(c.robots_agent))
            await frontier.release(entry.host, time.monotonic() + delay, back=entry)
            return
        if c.obey_robots and rules is not None and not rules.allowed(entry.url, c.robots_agent):
            self.stats.robots_blocked += 1
            record = PageRecord(entry.url, None, "", 0, 0, "robots", time.time(), 0.0)
            store.commit_page(entry, record, [], exact=False, journal=False)
            await frontier.release(entry.host, time.monotonic())
            return
        budget = c.max_pages_per_host
        if budget is not None and self._per_host[entry.host] >= budget:
            self.stats.over_host_budget += 1
            record = PageRecord(entry.url, None, "", 0, 0, "host-budget", time.time(), 0.0)
            store.commit_page(entry, record, [], exact=False, journal=False)
            await frontier.release(entry.host, time.monotonic())
            return
        if self._claims_left() <= 0:
            await frontier.release(entry.host, time.monotonic(), back=entry)
            self.stop()
            return
        self._claims += 1
        self._per_host[entry.host] += 1
        store.claim(entry.url)  # durable before the request leaves
        wall = time.time()
        candidates: list[tuple[str, int, int]] = []
        status: int | None = None
        ctype, size, took = "", 0, 0.0
        try:
            got = await fetch(client, entry.url, c.limits)
        except FetchError as exc:
            outcome = exc.reason
            took = time.time() - wall
        else:
            status, ctype, size, took = got.status, got.content_type, len(got.body), got.elapsed
            if 300 <= got.status < 400 and got.location:
                if entry.hops + 1 > c.limits.max_redirects:
                    outcome = "too-many-redirects"
                else:
                    outcome = "redirect"
                    candidates.append((urljoin(entry.url, got.location), entry.depth,
                                       entry.hops + 1))
            elif got.status >= 400 or got.status < 200:
                outcome = f"http-{got.status}"
            elif got.body:
                outcome = "ok"
                links = await asyncio.to_thread(extract_links, got.body, entry.url,
                                                got.encoding) if size > 262_144 else \
                    extract_links(got.body, entry.url, got.encoding)
                candidates = [(link, entry.depth + 1, 0) for link in links]
            else:
                outcome = "ok" if ctype.split(";")[0].strip() in c.limits.content_types \
                    else "skipped-type"
        new, audit, false_pos = self._admit(seen, store, candidates)
        record = PageRecord(entry.url, status, ctype[:100], size, len(candidates), outcome,
                            wall, took)
        store.commit_page(entry, record, new if self._local else [],
                          exact=seen.mode == "exact",
                          journal=seen.mode == "bloom", audit=audit,
                          false_positives=false_pos)
        self.stats.fetched += 1
        self.stats.outcomes[outcome] += 1
        self.stats.bytes += size
        self._since_snapshot += 1
        self._snapshot(seen, store)
        await frontier.push(new)
        crawl_delay = rules.crawl_delay(c.robots_agent) if rules is not None else 0.0
        await frontier.release(entry.host,
                               time.monotonic() + c.politeness.delay(took, crawl_delay))

    def _claims_left(self) -> int:
        if self.config.max_pages is None:
            return 1 << 62
        return self.config.max_pages - self.stats.resumed_pages - self._claims

    # -- the run ------------------------------------------------------------------------------
    async def run(self) -> CrawlStats:
        c = self.config
        lock = None
        if c.state_dir is not None:
            c.state_dir.mkdir(parents=True, exist_ok=True)
            lock = DirLock(Path(c.state_dir), "this crawl state")
            try:
                lock.acquire()
            except Exception as exc:
                raise StateError(str(exc)) from exc
        store = CrawlStore(None if c.state_dir is None else c.state_dir / "crawl.db")
        try:
            return await self._run(store)
        finally:
            store.close()
            if lock is not None:
                lock.release()

    async def _run(self, store: CrawlStore) -> CrawlStats:
        c = self.config
        fresh = store.check_meta(self._settings())
        seen = self._open_seen(store)
        frontier: Frontier
        if c.dedup == "redis":
            from bazaar.crawler._redis_frontier import RedisFrontier

            assert c.redis_url is not None
            frontier = RedisFrontier.from_url(c.redis_url, c.redis_key)
        else:
            frontier = LocalFrontier(store.queued())
        self._frontier = frontier
        done = store.counts()
        self.stats.resumed_pages = sum(n for k, n in done.items()
                                       if k not in ("robots", "host-budget"))
        self._per_host.update(store.fetches_per_host())
        self.stats.refetched_after_crash = len(store.claimed())
        if fresh:
            new, audit, _ = self._admit(seen, store, [(s, 0, 0) for s in c.seeds])
            store.commit_page(None, None, new if self._local else [],
                              exact=seen.mode == "exact",
                              journal=seen.mode == "bloom", audit=audit)
            await frontier.push(new)
        started = time.monotonic()
        client = make_client(user_agent=c.user_agent, limits=c.limits,
                             concurrency=c.concurrency, resolve=dict(c.resolve))

        async def worker() -> None:
            while not self._stopping:
                entry = await frontier.claim()
                if entry is None:
                    return
                await self._visit(client, seen, store, frontier, entry)

        async def ticker() -> None:
            while True:
                await asyncio.sleep(self._progress_every)
                await self._refresh(frontier, seen, started)
                if self._on_progress is not None:
                    self._on_progress(self.stats)

        tick = asyncio.create_task(ticker())
        try:
            async with client:
                await asyncio.gather(*(worker() for _ in range(c.concurrency)))
        finally:
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await tick
            self._snapshot(seen, store, force=True)
            await self._refresh(frontier, seen, started)
            self.stats.false_positives = store.false_positive_count()
        if self._on_progress is not None:
            self._on_progress(self.stats)
        return self.stats

    async def _refresh(self, frontier: Frontier, seen: SeenSet, started: float) -> None:
        self.stats.elapsed = time.monotonic() - started
        self.stats.queued, self.stats.in_flight = await frontier.sizes()
        self.stats.dedup_memory_bytes = seen.memory_bytes() if seen.mode != "exact" else 0
