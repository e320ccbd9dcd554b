"""``bazaar crawl``: a polite, resumable crawl from seed URLs, with progress and a summary."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

if TYPE_CHECKING:
    from bazaar.crawler import CrawlStats

app = typer.Typer(help="Bazaar Crawl: polite, resumable, never fetches a URL twice.",
                  no_args_is_help=True, invoke_without_command=False)


def _resolve_pairs(values: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for value in values:
        name, sep, addr = value.rpartition("=")
        if not sep or not name or not addr:
            raise typer.BadParameter(f"--resolve wants NAME=ADDRESS (globs ok), got {value!r}")
        out.append((name, addr))
    return tuple(out)


def _summary_rows(stats: CrawlStats) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = [
        ("pages fetched", stats.fetched),
        ("pages/s", f"{stats.pages_per_second:.1f}"),
        ("elapsed", f"{stats.elapsed:.1f} s"),
        ("bytes", stats.bytes),
    ]
    rows += [(f"  outcome {k}", v) for k, v in sorted(stats.outcomes.items())]
    rows += [
        ("robots.txt fetched", stats.robots_fetched),
        ("blocked by robots.txt", stats.robots_blocked),
        ("over the per-host budget", stats.over_host_budget),
        ("duplicate links dropped", stats.duplicates),
        ("off-site links", stats.offsite),
        ("too deep", stats.too_deep),
        ("invalid URLs", stats.invalid),
        ("false positives (audit)", stats.false_positives),
        ("pages from earlier runs", stats.resumed_pages),
        ("fetched again after a crash", stats.refetched_after_crash),
        ("left in the frontier", stats.queued),
        (f"dedup ({stats.dedup}) memory", stats.dedup_memory_bytes),
    ]
    return rows


@app.command("crawl")
def run(
    seeds: list[str] = typer.Argument(..., help="Seed URLs (http or https)."),
    max_pages: int | None = typer.Option(None, "--max-pages", help="Stop after N pages."),
    max_depth: int | None = typer.Option(None, "--max-depth", help="Links away from a seed."),
    max_per_host: int | None = typer.Option(None, "--max-pages-per-host",
                                            help="Per-host budget (traps such as calendars)."),
    allow_domain: list[str] = typer.Option(
        [], "--allow-domain", help="Stay under these domains (default: the seeds' hosts)."),
    concurrency: int = typer.Option(16, "--concurrency", help="Fetches in flight (one per host)."),
    per_host_delay: float = typer.Option(1.0, "--per-host-delay",
                                         help="Floor of the wait between fetches of one host (s)."),
    delay_factor: float = typer.Option(2.0, "--delay-factor",
                                       help="Also wait this many times the last fetch's duration."),
    dedup: str = typer.Option("exact", "--dedup", help="exact | bloom | redis"),
    expected_urls: int = typer.Option(1_000_000, "--expected-urls", help="Sizes the Bloom filter."),
    error_rate: float = typer.Option(1e-6, "--error-rate", help="Bloom false-positive target."),
    redis_url: str | None = typer.Option(None, "--redis", help="Redis URL for --dedup redis."),
    redis_key: str = typer.Option("bazaar:crawl", "--redis-key", help="Key prefix in Redis."),
    fp_audit: bool = typer.Option(False, "--fp-audit",
                                  help="Keep exact fingerprints to count Bloom false positives."),
    state: Path | None = typer.Option(None, "--state",
                                      help="State directory: makes the crawl resumable."),
    user_agent: str | None = typer.Option(None, "--user-agent", help="User-Agent header."),
    ignore_robots: bool = typer.Option(False, "--ignore-robots", help="Do not obey robots.txt."),
    max_body: int = typer.Option(2 * 1024 * 1024, "--max-body", help="Bytes per page, at most."),
    timeout: float = typer.Option(20.0, "--timeout", help="Read timeout per fetch (s)."),
    resolve: list[str] = typer.Option([], "--resolve",
                                      help="NAME=ADDRESS, e.g. '*.localhost=127.0.0.1'."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    as_json: bool = JSON,
) -> None:
    """Crawl from SEEDS politely; Ctrl-C stops after the pages in flight.

    Resume with the same --state. The synthetic web of the tests: python -m
    bazaar.crawler.synthetic --port 8900, then bazaar crawl http://h0.web.localhost:8900/p/0
    --allow-domain web.localhost --resolve '*.localhost=127.0.0.1' --max-pages-per-host 50.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from bazaar.crawler import (
        DEFAULT_USER_AGENT,
        CrawlConfig,
        Crawler,
        CrawlError,
        FetchLimits,
        Politeness,
    )

    try:
        config = CrawlConfig(
            seeds=tuple(seeds), max_pages=max_pages, max_depth=max_depth,
            max_pages_per_host=max_per_host, allow_domains=tuple(allow_domain),
            concurrency=concurrency,
            politeness=Politeness(floor=per_host_delay, factor=delay_factor,
                                  cap=max(30.0, per_host_delay)),
            limits=FetchLimits(max_body=max_body, read_timeout=timeout),
            user_agent=user_agent or DEFAULT_USER_AGENT, obey_robots=not ignore_robots,
            dedup=dedup,  # type: ignore[arg-type]
            expected_urls=expected_urls, error_rate=error_rate, redis_url=redis_url,
            redis_key=redis_key, fp_audit=fp_audit, state_dir=state,
            resolve=_resolve_pairs(resolve))
    except CrawlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc

    console = Console(stderr=True)
    live = Live(console=console, transient=True, auto_refresh=False) \
        if not quiet and console.is_terminal else None

    def progress(stats: CrawlStats) -> None:
        line = (f"{stats.fetched:,} pages  {stats.pages_per_second:,.0f}/s  queued "
                f"{stats.queued:,}  in flight {stats.in_flight}  dup {stats.duplicates:,}  "
                f"robots-blocked {stats.robots_blocked}  errors "
                f"{sum(v for k, v in stats.outcomes.items() if k not in ('ok', 'redirect'))}")
        if live is not None:
            live.update(Text(line), refresh=True)
        elif not quiet:
            console.print(line, highlight=False)

    crawler = Crawler(config, on_progress=progress, progress_every=0.5 if live else 5.0)

    async def main() -> CrawlStats:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, crawler.stop)
        return await crawler.run()

    def run_loop() -> CrawlStats:
        # uvloop (it comes with uvicorn[standard]): the crawl is one event loop's CPU time,
        # and uvloop's is less per socket event than asyncio's.
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(main())

    try:
        if live is not None:
            with live:
                stats = run_loop()
        else:
            stats = run_loop()
    except CrawlError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json(stats.as_dict())
        return
    emit_table([Col("what"), Col("count")], _summary_rows(stats), title="crawl summary")
