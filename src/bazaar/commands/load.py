"""``bazaar load``: an open-loop load test against a running shop."""

from __future__ import annotations

import typer

from bazaar.commands._output import JSON, Col, emit_json, emit_table

app = typer.Typer()


@app.command("load")
def load(
    url: str = typer.Argument(..., help="The shop's base URL (a cluster's entry, or `up`'s)."),
    rate: float = typer.Option(200.0, "--rate", "-R", min=0.1, max=1_000_000,
                               help="Requests per second, held whatever the server does."),
    duration: float = typer.Option(10.0, "--duration", "-d", min=0.1, max=86_400,
                                   help="Seconds."),
    connections: int = typer.Option(64, "--connections", "-c", min=1, max=10_000,
                                    help="Keep-alive connections."),
    mix: str = typer.Option("shop", "--mix", help="shop (browse, search, product page, "
                                                  "order history, place order) or get "
                                                  "(product pages only)."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.01, help="Per request, seconds."),
    seed: int = typer.Option(1, "--seed", help="Seed of the request mix."),
    as_json: bool = JSON,
) -> None:
    """Send requests at a fixed rate (open loop, as wrk2 does): each latency counts from the
    request's intended send time, so stalls cannot hide. Percentiles from an HdrHistogram."""
    from bazaar.cluster.load import run_sync

    if not as_json:
        typer.echo(f"{rate:g} req/s for {duration:g} s over {connections} connections "
                   f"({mix} mix) against {url}", err=True)
    try:
        result = run_sync(url, rate=rate, duration_s=duration, connections=connections,
                          mix=mix, seed=seed, timeout_s=timeout)
    except (ValueError, RuntimeError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except Exception as exc:  # httpx errors while logging in: the shop is not there
        typer.echo(f"error: {type(exc).__name__}: {exc}", err=True)
        raise typer.Exit(1) from exc
    if as_json:
        emit_json(result)
        return
    emit_table([Col("op", whole=True), Col("count"), Col("p50 ms"), Col("p99 ms")],
               ([op, int(v["count"]), v["p50_ms"], v["p99_ms"]] for op, v in result.ops.items()),
               title="per operation")
    typer.echo(f"achieved {result.achieved_rate:g} req/s of {result.rate:g}; "
               f"p50 {result.p50_ms} ms, p90 {result.p90_ms}, p99 {result.p99_ms}, "
               f"p99.9 {result.p999_ms}, "
               f"max {result.max_ms}; errors {result.errors}, refused (4xx) {result.refused}, "
               f"late sends {result.late}; statuses {result.statuses}")
    if result.errors:
        raise typer.Exit(4)
