"""``/dashboard``: the presentation stage, served by Bazaar (and ``POST /events``, the
clickstream's way onto the log, when a log is configured).

Charts and tables from the warehouse (``/dashboard/api/summary``: revenue over time, top
products, the checkout funnel, stock levels), refreshed by the page every few seconds while
a background thread loads the lake's new files into the warehouse; live notifications (low
stock, order spikes) from the log by server-sent events (``/dashboard/events``). uPlot is
vendored in ``static/`` (from the npm registry; no CDN at run time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bazaar.pipeline._alerts import Alert, Rules, Watcher
from bazaar.pipeline._clickstream import Clickstream, InvalidEvents
from bazaar.pipeline._errors import IngestError, PipelineError, WarehouseError
from bazaar.pipeline._lake import Lake
from bazaar.pipeline._warehouse import Warehouse
from bazaar.web import ErrorMap, Guard, Limits

log = logging.getLogger("bazaar.pipeline")
STATIC = resources.files("bazaar.pipeline") / "static"

SUMMARY = {
    "revenue": """SELECT epoch(date_trunc('hour', ts))::BIGINT, sum(revenue_cents)::BIGINT
                  FROM sold_lines GROUP BY 1 ORDER BY 1""",
    "top_products": """SELECT product_id, sum(revenue_cents)::BIGINT, sum(quantity)::BIGINT
                       FROM sold_lines GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
    "funnel": "SELECT name, sessions FROM agg_funnel ORDER BY stage",
    "stock": "SELECT product_id, stock FROM stock_levels ORDER BY stock, product_id LIMIT 10",
    "totals": """SELECT (SELECT count(DISTINCT order_id) FROM sold_lines),
                        (SELECT coalesce(sum(revenue_cents), 0)::BIGINT FROM agg_daily),
                        (SELECT count(*) FROM fact_events)""",
}


class Hub:
    """Fans alerts out to every connected SSE client (thread-safe publish)."""

    def __init__(self, keep: int = 50) -> None:
        self.recent: deque[Alert] = deque(maxlen=keep)
        self._queues: set[asyncio.Queue[Alert]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, alert: Alert) -> None:
        self.recent.append(alert)
        if self._loop is None:
            return
        for q in list(self._queues):
            self._loop.call_soon_threadsafe(q.put_nowait, alert)

    @contextlib.contextmanager
    def subscribe(self) -> Any:
        q: asyncio.Queue[Alert] = asyncio.Queue(maxsize=1000)
        self._queues.add(q)
        try:
            yield q
        finally:
            self._queues.discard(q)


@dataclass
class DashboardConfig:
    """Where the dashboard reads from, and its alert rules."""

    warehouse: Path
    lake: Path | None = None
    bootstrap: str | None = None
    refresh_s: float = 5.0
    rules: Rules | None = None


class Dashboard:
    """The warehouse, its loader thread, the alert watcher and the SSE hub, as one app."""

    def __init__(self, config: DashboardConfig) -> None:
        self.config = config
        self.warehouse = Warehouse(config.warehouse)
        self.lake = Lake(config.lake) if config.lake else None
        self.hub = Hub()
        self.watcher = (Watcher(config.bootstrap, self.hub.publish, rules=config.rules)
                        if config.bootstrap else None)
        self.load_error: str | None = None
        self._stop = threading.Event()
        self._loader = threading.Thread(target=self._load_loop, name="pipeline-loader",
                                        daemon=True)

    def _load_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.lake is not None:
                    self.warehouse.load(self.lake)
                self.load_error = None
            except PipelineError as exc:
                self.load_error = str(exc)
                log.warning("dashboard: warehouse load failed: %s", exc)
            self._stop.wait(self.config.refresh_s)

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self.hub.bind(asyncio.get_running_loop())
        self._loader.start()
        if self.watcher:
            self.watcher.start()
        try:
            yield
        finally:
            self._stop.set()
            if self.watcher:
                self.watcher.stop()
            self._loader.join(30)
            self.warehouse.close()

    # -- endpoints ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        started = time.perf_counter()
        rows = {name: self.warehouse.query(sql) for name, sql in SUMMARY.items()}
        orders, revenue, events = rows["totals"][0]
        return {
            "revenue": {"hour": [r[0] for r in rows["revenue"]],
                        "cents": [r[1] for r in rows["revenue"]]},
            "top_products": [{"product_id": r[0], "revenue_cents": r[1], "units": r[2]}
                             for r in rows["top_products"]],
            "funnel": [{"stage": r[0], "sessions": r[1]} for r in rows["funnel"]],
            "stock": [{"product_id": r[0], "stock": r[1]} for r in rows["stock"]],
            "totals": {"orders": orders, "revenue_cents": revenue, "events": events},
            "query_ms": round((time.perf_counter() - started) * 1000, 2),
        }

    async def page(self, request: Request) -> Response:
        return HTMLResponse((STATIC / "dashboard.html").read_text())

    async def api_summary(self, request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(self.summary))

    async def api_health(self, request: Request) -> Response:
        return JSONResponse({
            "alerts": ("off" if self.watcher is None else
                       "watching" if self.watcher.ready.is_set() else "starting"),
            "alerts_error": self.watcher.error if self.watcher else None,
            "load_error": self.load_error,
            "recent": [asdict(a) for a in self.hub.recent]})

    async def events(self, request: Request) -> Response:
        async def stream() -> AsyncIterator[bytes]:
            with self.hub.subscribe() as q:
                yield b": connected\n\n"
                while True:
                    try:
                        alert = await asyncio.wait_for(q.get(), 15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"  # and notice a client that left
                        continue
                    yield (b"event: alert\ndata: " + orjson.dumps(asdict(alert)) + b"\n\n")

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})


def dashboard_app(config: DashboardConfig) -> Starlette:
    """The ASGI app serving ``/dashboard`` (mount it, or serve it alone)."""
    board = Dashboard(config)
    errors = (ErrorMap.standard(log)
              .add(WarehouseError, 503, "warehouse-unavailable", "The warehouse is unavailable",
                   retryable=True)
              .add(InvalidEvents, 422, "invalid-events", "Invalid events", retryable=False)
              .add(IngestError, 503, "log-unavailable", "The log is unavailable",
                   retryable=True))
    clicks = [Route("/events", Clickstream(config.bootstrap).post, methods=["POST"])
              ] if config.bootstrap else []
    app = Starlette(routes=[*clicks,
        Route("/dashboard", board.page),
        Route("/dashboard/api/summary", board.api_summary),
        Route("/dashboard/api/health", board.api_health),
        Route("/dashboard/events", board.events),
        Mount("/dashboard/static", StaticFiles(directory=str(STATIC)), name="static"),
    ], middleware=[Middleware(Guard, errors=errors, limits=Limits(max_body=1 << 20))],
        exception_handlers=errors.handlers(), lifespan=board.lifespan)
    return app


def serve_dashboard(config: DashboardConfig, *, host: str = "127.0.0.1",
                    port: int = 8400) -> None:
    """Serve :func:`dashboard_app` until interrupted."""
    import uvicorn

    from bazaar.web import uvicorn_config

    limits = Limits(max_body=1 << 20)
    uvicorn.Server(uvicorn_config(dashboard_app(config), limits, host=host, port=port,
                                  lifespan="on")).run()
