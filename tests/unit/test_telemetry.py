"""bazaar.telemetry on a real Starlette app: request ids, route-labelled metrics, access log,
structured logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from bazaar.telemetry import (
    SnapshotCollector,
    Telemetry,
    configure_logging,
    http_metrics,
    metrics_response,
)


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    yield stream
    structlog.reset_defaults()
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, "_bazaar", False):
            logging.getLogger().removeHandler(handler)


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _app(access_log: bool = False) -> tuple[Starlette, CollectorRegistry]:
    metrics = http_metrics("test")

    async def item(request: Request) -> Response:
        structlog.get_logger("test.handler").info("looked up", item=request.path_params["id"])
        logging.getLogger("test.stdlib").warning("plain stdlib line")
        return PlainTextResponse("ok")

    async def boom(request: Request) -> Response:
        raise RuntimeError("no")

    async def scrape(request: Request) -> Response:
        body, kind = metrics_response(metrics.registry)
        return Response(body, media_type=kind)

    routes = [Route("/items/{id:int}", item), Route("/boom", boom), Route("/metrics", scrape)]
    app = Starlette(routes=routes, middleware=[Middleware(
        Telemetry, metrics=metrics, access_log=access_log,
        routes=lambda: routes)])
    return app, metrics.registry


def test_each_request_gets_an_id_returned_and_bound_to_its_log_lines(
        logs: io.StringIO) -> None:
    app, _ = _app()
    client = TestClient(app)
    first = client.get("/items/7")
    second = client.get("/items/8")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert len(set(ids)) == 2 and all(len(i) == 20 for i in ids)
    lines = _lines(logs)
    looked = [line for line in lines if line["event"] == "looked up"]
    assert [(line["request_id"], line["item"]) for line in looked] == [(ids[0], 7), (ids[1], 8)]
    stdlib = [line for line in lines if line["event"] == "plain stdlib line"]
    assert [line["request_id"] for line in stdlib] == ids  # stdlib loggers get it too
    assert stdlib[0]["level"] == "warning" and stdlib[0]["logger"] == "test.stdlib"
    assert "timestamp" in stdlib[0]


def test_a_sane_caller_id_is_kept_and_a_hostile_one_replaced(logs: io.StringIO) -> None:
    client = TestClient(_app()[0])
    assert client.get("/items/1", headers={"X-Request-ID": "abc-123.x"}
                      ).headers["x-request-id"] == "abc-123.x"
    for hostile in ("a" * 65, "evil\"}{injected", "two words"):
        got = client.get("/items/1", headers={"X-Request-ID": hostile}).headers["x-request-id"]
        assert got != hostile and len(got) == 20


def test_metrics_are_labelled_by_route_template_not_raw_path() -> None:
    app, registry = _app()
    client = TestClient(app, raise_server_exceptions=False)
    for i in range(3):
        client.get(f"/items/{i}")
    client.get("/nope/123")
    client.get("/nope/456")
    assert client.get("/boom").status_code == 500
    text = client.get("/metrics").text
    assert 'bazaar_http_requests_total{method="GET",route="/items/{id:int}",status="200"} 3.0' \
        in text
    assert 'bazaar_http_requests_total{method="GET",route="unmatched",status="404"} 2.0' in text
    assert 'bazaar_http_requests_total{method="GET",route="/boom",status="500"} 1.0' in text
    assert "/nope/123" not in text  # no label per attacker-chosen path
    assert 'bazaar_http_request_duration_seconds_count{method="GET",route="/items/{id:int}"} ' \
           '3.0' in text
    assert 'bazaar_service_info{service="test"} 1.0' in text
    assert registry.get_sample_value("bazaar_http_requests_in_flight") == 0


def test_access_log_only_when_asked(logs: io.StringIO) -> None:
    TestClient(_app(access_log=False)[0]).get("/items/1")
    assert not [line for line in _lines(logs) if line["logger"] == "bazaar.access"]
    response = TestClient(_app(access_log=True)[0]).get("/items/2?x=1")
    access = [line for line in _lines(logs) if line["logger"] == "bazaar.access"]
    assert len(access) == 1
    line = access[0]
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "GET", "/items/2", "/items/{id:int}", 200)
    assert line["request_id"] == response.headers["x-request-id"]
    assert isinstance(line["duration_ms"], float)


def test_snapshot_collector_reads_counters_when_scraped() -> None:
    state = {"products": {"hits": 1, "misses": 2, "name": "x"}, "backend": "memory"}
    registry = CollectorRegistry()
    registry.register(SnapshotCollector("bazaar_cache", "kind", lambda: state))
    assert registry.get_sample_value("bazaar_cache_hits_total", {"kind": "products"}) == 1
    state["products"]["hits"] = 5
    assert registry.get_sample_value("bazaar_cache_hits_total", {"kind": "products"}) == 5
    assert registry.get_sample_value("bazaar_cache_name_total", {"kind": "products"}) is None
