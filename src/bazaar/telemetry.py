"""What every Bazaar service says about itself: Prometheus metrics, a request id on every
request, an optional access log, and structured logs configured once.

- :class:`Telemetry` — ASGI middleware: counts requests by method, route template and status,
  times them (a histogram), tracks those in flight; gives each request an id (the caller's
  ``X-Request-ID`` when it is sane, else a new one), returns it in the response, binds it to
  every log line written while the request runs; when asked, writes one access-log line per
  request. A client that hangs up mid-request, or a request cut by the server's shutdown,
  is counted as 499, and neither is written to the log as a traceback.
- :func:`metrics_response` — the registry in Prometheus' text format, for a ``/metrics`` route.
- :func:`configure_logging` — structlog and the standard library's logging (uvicorn's too) as
  JSON lines (or a console format) on stderr; called once at start-up by each server.

A leaf: it imports no other ``bazaar`` module, so every component's HTTP app may use it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import itertools
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TextIO

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import ClientDisconnect

__all__ = [
    "CONTENT_TYPE_LATEST",
    "REQUEST_ID_HEADER",
    "SnapshotCollector",
    "Telemetry",
    "add_request_id",
    "configure_logging",
    "http_metrics",
    "metrics_response",
    "request_id",
]

REQUEST_ID_HEADER = "x-request-id"
#: A caller's id is kept only when it is this shape (no log injection, bounded length).
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
#: Where a middleware may note the route template before Starlette's router runs (a fast path
#: that answers without routing sets it; otherwise the router's ``endpoint`` is looked up).
ROUTE_KEY = "bazaar.route"
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)

_access = structlog.get_logger("bazaar.access")
_log = structlog.get_logger("bazaar.telemetry")
#: nginx's "client closed request": counted, never sent.
_CLIENT_CLOSED = 499
#: The current request's id, for log lines (see :func:`add_request_id`).
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "bazaar_request_id", default=None)
#: Request ids: a random per-process prefix and a counter — unique, and cheap to make.
_ID_PREFIX = os.urandom(6).hex()
_ids = itertools.count(1)


def add_request_id(logger: Any, method: str, event: dict[str, Any]) -> dict[str, Any]:
    """A structlog processor: the current request's id, if any, on every line."""
    rid = _request_id.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


class HttpMetrics:
    """The request counts and latencies of one service, kept as plain numbers (a dict
    increment on the hot path, like the broker's ``Metrics``) and turned into Prometheus
    families only when scraped, from its own registry."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.requests: dict[tuple[str, str, int], int] = {}
        #: (method, route) → [bucket counts…, +Inf count], sum of seconds
        self.latency: dict[tuple[str, str], tuple[list[int], list[float]]] = {}
        self.in_flight = 0
        self.registry = registry or CollectorRegistry()
        self.registry.register(_HttpCollector(self))

    def record(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        found = self.latency.get((method, route))
        if found is None:
            found = self.latency[(method, route)] = ([0] * (len(_BUCKETS) + 1), [0.0])
        found[0][bisect.bisect_left(_BUCKETS, seconds)] += 1
        found[1][0] += seconds

    def count(self, method: str, route: str, status: int) -> int:
        """Requests answered so far with this method, route and status."""
        return self.requests.get((method, route, status), 0)


class _HttpCollector:
    def __init__(self, metrics: HttpMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        m = self.metrics
        requests = CounterMetricFamily("bazaar_http_requests", "HTTP requests answered",
                                       labels=["method", "route", "status"])
        for (method, route, status), n in sorted(m.requests.items()):
            requests.add_metric([method, route, str(status)], n)
        yield requests
        duration = HistogramMetricFamily("bazaar_http_request_duration_seconds",
                                         "Time to answer an HTTP request",
                                         labels=["method", "route"])
        for (method, route), (counts, total) in sorted(m.latency.items()):
            running, buckets = 0, []
            for bound, n in zip((*_BUCKETS, float("inf")), counts, strict=True):
                running += n
                buckets.append(("+Inf" if bound == float("inf") else str(bound), running))
            duration.add_metric([method, route], buckets, total[0])
        yield duration
        yield GaugeMetricFamily("bazaar_http_requests_in_flight", "Requests being answered",
                                value=m.in_flight)
        info = GaugeMetricFamily("bazaar_service_info", "The service this process runs",
                                 labels=["service"])
        info.add_metric([m.service], 1)
        yield info


class SnapshotCollector:
    """Counters read when scraped from ``snapshot()``: ``{label value: {name: number}}``
    becomes ``<prefix>_<name>{<label>="label value"}`` (e.g. the read cache's hits per kind).
    Non-numeric entries are skipped."""

    def __init__(self, prefix: str, label: str,
                 snapshot: Callable[[], dict[str, Any]]) -> None:
        self.prefix, self.label, self.snapshot = prefix, label, snapshot

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily

        families: dict[str, Any] = {}
        for value, counters in sorted(self.snapshot().items()):
            if not isinstance(counters, dict):
                continue
            for name, number in sorted(counters.items()):
                if isinstance(number, bool) or not isinstance(number, int | float):
                    continue
                family = families.get(name)
                if family is None:
                    family = families[name] = CounterMetricFamily(
                        f"{self.prefix}_{name}", f"{self.prefix} {name.replace('_', ' ')}",
                        labels=[self.label])
                family.add_metric([value], number)
        yield from families.values()


def http_metrics(service: str, registry: CollectorRegistry | None = None) -> HttpMetrics:
    """A fresh set of HTTP metrics for ``service`` (each app its own registry)."""
    return HttpMetrics(service, registry)


def metrics_response(registry: CollectorRegistry) -> tuple[bytes, str]:
    """``(body, content type)`` of a Prometheus scrape of ``registry``."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


def request_id(scope: dict[str, Any] | None = None) -> str | None:
    """The id :class:`Telemetry` gave the request in ``scope`` (default: the current one)."""
    if scope is None:
        return _request_id.get()
    value = scope.get("state", {}).get("request_id")
    return value if isinstance(value, str) else None


class Telemetry:
    """ASGI middleware: metrics, request id, optional access log (see the module docstring).

    ``routes`` gives the app's Starlette routes, so that metrics are labelled by path
    template (``/orders/{order_id}``), never by raw path (an attacker's random ids would
    otherwise make a label each). A request answered before routing (a 401 from the identity
    middleware, a 413) is matched against the routes afterwards; one that matches none is
    labelled ``unmatched``.
    """

    def __init__(self, app: Callable[..., Any], metrics: HttpMetrics,
                 routes: Callable[[], Sequence[Any]] | None = None,
                 access_log: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self._routes = routes
        self._table: dict[Any, str] | None = None
        self.access_log = access_log

    def _route(self, scope: dict[str, Any]) -> str:
        noted = scope.get(ROUTE_KEY)
        if isinstance(noted, str):
            return noted
        routes = self._routes() if self._routes is not None else ()
        if self._table is None:
            self._table = {r.endpoint: r.path for r in routes if hasattr(r, "endpoint")}
        endpoint = scope.get("endpoint")
        if endpoint is not None:
            return self._table.get(endpoint, "unmatched")
        for route in routes:  # answered before routing: which route was it for?
            with contextlib.suppress(Exception):
                match, _ = route.matches(scope)
                if match.name == "FULL":
                    return str(route.path)
        return "unmatched"

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope.get("headers", ()))
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    # (an app may answer with its own, e.g. an async invocation's id)
                    headers.append((b"x-request-id", rid.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        m = self.metrics
        m.in_flight += 1
        token = _request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client hung up mid-request: nobody to answer, nothing went wrong here.
            status = _CLIENT_CLOSED
            _log.debug("client disconnected", path=scope["path"])
        except asyncio.CancelledError:
            # The server's shutdown cut this request (a long poll). Cancellation goes on up
            # (the caller may be waiting on it); the log filter below keeps uvicorn from
            # writing it as a traceback.
            status = _CLIENT_CLOSED if status == 500 else status
            raise
        finally:
            elapsed = time.perf_counter() - started
            method, route = scope["method"], self._route(scope)
            m.in_flight -= 1
            m.record(method, route, status, elapsed)
            if self.access_log:
                client = scope.get("client") or ("-", 0)
                _access.info("request", method=method, path=scope["path"], route=route,
                             status=status, duration_ms=round(elapsed * 1000, 3),
                             client=client[0])
            _request_id.reset(token)


def _incoming_id(headers: Iterable[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ids):08x}"


def _quiet_cancellations(record: logging.LogRecord) -> bool:
    """Drop "Exception in ASGI application" records that are only a request cut by the
    server's shutdown (CancelledError) or a client that hung up: nothing went wrong."""
    if record.exc_info and record.name.startswith("uvicorn"):
        kind = record.exc_info[0]
        if kind is not None and issubclass(kind, asyncio.CancelledError | ClientDisconnect):
            return False
    return True


def configure_logging(level: str = "info", fmt: Literal["auto", "json", "console"] = "json",
                      stream: TextIO | None = None) -> None:
    """Structured logs for this process: structlog and stdlib loggers (uvicorn, the broker,
    the orchestrator…) rendered alike — one JSON object per line with ``timestamp``,
    ``level``, ``logger``, ``event`` and any bound context such as ``request_id``.

    ``fmt="auto"``: the console format when ``stream`` is a terminal, else JSON. Migration
    chatter (alembic's info lines) is shown only at debug level. Safe to call more than once
    (the last call wins); call it before the server starts, and give uvicorn
    ``log_config=None`` so that it keeps this set-up.
    """
    out = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (structlog.processors.JSONRenderer() if fmt == "json"
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(),
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, renderer])
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    handler.addFilter(_quiet_cancellations)
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bazaar", False):
            root.removeHandler(old)
    handler._bazaar = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # uvicorn's own loggers propagate to the root instead of printing their own format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("alembic").setLevel("DEBUG" if level.lower() == "debug" else "WARNING")
