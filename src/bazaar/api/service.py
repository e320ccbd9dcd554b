"""The service's own endpoints, beside the shop's: ``GET /`` (an index of what is running
where) and ``GET /health`` (readiness: the database, and every service ``bazaar up``
supervises)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api import schemas as s
from bazaar.api.responses import json
from bazaar.api.routes import Operation


class ServiceStatus(Protocol):
    """What the API can say about the processes beside it (``bazaar up``'s supervisor)."""

    def states(self) -> Mapping[str, str]:
        """Each service's state; ``"up"`` is the only healthy one."""
        ...

    def urls(self) -> Mapping[str, str]:
        """Where the services that listen answer (``http://…``; ``host:port`` for Kafka)."""
        ...

    def metrics_urls(self) -> Mapping[str, str]:
        """Where the services that serve Prometheus metrics serve them."""
        ...


class ServiceRoutes:
    """``GET /`` and ``GET /health``: public, no identity needed."""

    def __init__(self, health: Callable[[], None], services: ServiceStatus | None,
                 title: str, version: str) -> None:
        self._health, self._services = health, services
        self._title, self._version = title, version

    async def health(self, request: Request) -> Response:
        await run_in_threadpool(self._health)  # raises Unavailable: 503 problem+json
        states = dict(self._services.states()) if self._services is not None else {}
        down = [name for name, state in states.items() if state != "up"]
        if down:
            return json(s.Health(status="unavailable", database="ok", services=states,
                                 down=down), 503, {"Retry-After": "1"})
        return json(s.Health(status="ok", database="ok", services=states))

    async def index(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        links = {"api": f"{base}/", "docs": f"{base}/docs", "openapi": f"{base}/openapi.json",
                 "health": f"{base}/health", "metrics": f"{base}/metrics",
                 "jwks": f"{base}/.well-known/jwks.json",
                 # the other API styles (docs/api-styles.md)
                 "graphql": f"{base}/graphql", "graphiql": f"{base}/graphiql",
                 "graphql_schema": f"{base}/graphql/schema.graphql",
                 "soap": f"{base}/soap", "wsdl": f"{base}/soap?wsdl"}
        grpc_port = getattr(request.app.state, "grpc_port", None)
        if grpc_port is not None:  # served beside the app (bazaar up): host:port, no scheme
            links["grpc"] = f"{request.url.hostname}:{grpc_port}"
        services = {}
        if self._services is not None:
            urls, metrics = self._services.urls(), self._services.metrics_urls()
            services = {name: s.ServiceLink(url=urls.get(name), state=state,
                                            metrics=metrics.get(name))
                        for name, state in self._services.states().items()}
        return json(s.Index(name=self._title, version=self._version, links=links,
                            services=services))

    def operations(self) -> list[Operation]:
        o = Operation
        return [
            o("GET", "/", self.index, "Index: the API's links and the running services' URLs",
              response=s.Index, scope=None),
            o("GET", "/health", self.health,
              "Readiness: the database and every supervised service (503 names what is down)",
              response=s.Health, scope=None, errors=(503,)),
        ]
