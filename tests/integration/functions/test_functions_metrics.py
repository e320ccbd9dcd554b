"""The functions frontend serves Prometheus metrics like every Bazaar service."""

from __future__ import annotations

import httpx

from bazaar.functions import FunctionsClient, ServerProcess


def test_metrics_count_requests_by_route_without_credentials(
        server: ServerProcess, client: FunctionsClient) -> None:
    unauthenticated = httpx.get(f"{server.url}/functions")
    assert unauthenticated.status_code == 401
    assert len(unauthenticated.headers["x-request-id"]) == 20
    metrics = httpx.get(f"{server.url}/metrics")
    assert metrics.status_code == 200  # open, like /health elsewhere
    assert ('bazaar_http_requests_total{method="GET",route="/functions",status="401"}'
            in metrics.text)
    assert 'bazaar_service_info{service="functions"} 1.0' in metrics.text
