"""A small HTTP client for the frontend (httpx), used by the CLI, the lab and the tests.

Problem responses come back as the platform's own exceptions (``TooManyRequests`` for 429…).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bazaar.functions._access import BearerToken
from bazaar.functions._errors import (
    Conflict,
    FunctionsError,
    HostLost,
    InvalidPackage,
    InvalidRequest,
    NoCapacity,
    PayloadTooLarge,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
)
from bazaar.functions._model import FunctionSpec
from bazaar.functions._packages import zip_directory

_BY_CODE: dict[str, type[FunctionsError]] = {
    cls.code: cls for cls in (InvalidRequest, InvalidPackage, ResourceNotFound, Conflict,
                              TooManyRequests, NoCapacity, PayloadTooLarge)}
_BY_STATUS: dict[int, type[FunctionsError]] = {502: HostLost, 413: PayloadTooLarge,
                                               401: Unauthorized, 403: Unauthorized}


@dataclass(frozen=True)
class InvokeResponse:
    """A sync invoke's outcome: ``payload`` (parsed JSON) or ``error`` (errorType, …)."""

    status: int
    payload: Any
    error: dict[str, Any] | None
    request_id: str
    headers: dict[str, str]

    @property
    def duration_ms(self) -> float:
        return float(self.headers.get("x-duration-ms", "0"))

    @property
    def init_duration_ms(self) -> float | None:
        value = self.headers.get("x-init-duration-ms")
        return None if value is None else float(value)

    @property
    def logs(self) -> str:
        return base64.b64decode(self.headers.get("x-log-result", "")).decode()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        problem = response.json()
        code, detail = problem.get("title", ""), problem.get("detail", response.text)
    except ValueError:
        code, detail = "", response.text
    cls = _BY_CODE.get(code) or _BY_STATUS.get(response.status_code) or FunctionsError
    raise cls(detail)


class FunctionsClient:
    """Talks to a running platform's frontend at ``url``, authenticated with ``token`` (a
    Bearer token, or a function minting one: see ``ServerProcess.client``)."""

    def __init__(self, url: str, timeout: float = 60.0, *,
                 token: str | Callable[[], str] | None = None) -> None:
        self.url = url.rstrip("/")
        self._auth = None if token is None else BearerToken(token)
        self._http = httpx.Client(base_url=self.url, timeout=timeout, auth=self._auth)

    def auth_headers(self) -> dict[str, str]:
        """``{"authorization": "Bearer …"}`` for raw HTTP clients (curl, wrk, httpx)."""
        return {} if self._auth is None else {"authorization": f"Bearer {self._auth.token()}"}

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FunctionsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise FunctionsError(f"cannot reach the function platform at {self.url}: "
                                 f"{exc}") from exc
        _raise_for(response)
        return response

    def create(self, spec: FunctionSpec, code: bytes) -> dict[str, Any]:
        body = {"spec": spec.to_dict(), "code": base64.b64encode(code).decode()}
        result: dict[str, Any] = self._call("POST", "/functions", json=body).json()
        return result

    def deploy(self, directory: Path, spec: FunctionSpec) -> dict[str, Any]:
        """Create the function from ``directory``, or update its code and settings."""
        code = zip_directory(directory)
        try:
            return self.create(spec, code)
        except Conflict:
            return self.update_code(spec.name, code, {k: v for k, v in spec.to_dict().items()
                                                      if k != "name"})

    def update_code(self, name: str, code: bytes,
                    config: dict[str, Any] | None = None) -> dict[str, Any]:
        """New code for $LATEST, and new settings in the same step when ``config`` is given."""
        body: dict[str, Any] = {"code": base64.b64encode(code).decode()}
        if config is not None:
            body["config"] = config
        result: dict[str, Any] = self._call("PUT", f"/functions/{name}/code", json=body).json()
        return result

    def update_config(self, name: str, changes: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PUT", f"/functions/{name}/config",
                                            json=changes).json()
        return result

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", f"/functions/{name}").json()
        return result

    def list_functions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/functions").json()
        return result

    def delete(self, name: str) -> None:
        self._call("DELETE", f"/functions/{name}")

    def publish(self, name: str) -> str:
        return str(self._call("POST", f"/functions/{name}/versions").json()["version"])

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self._call("PUT", f"/functions/{name}/aliases/{alias}", json={"version": version})

    def invoke(self, name: str, event: Any = None, *, qualifier: str | None = None,
               tail: bool = False) -> InvokeResponse:
        """Invoke synchronously. A function error is in ``.error``; platform errors raise."""
        headers = {"x-invocation-type": "RequestResponse"}
        if tail:
            headers["x-log-type"] = "Tail"
        params = {"qualifier": qualifier} if qualifier else None
        response = self._call("POST", f"/functions/{name}/invocations", params=params,
                              content=json.dumps({} if event is None else event),
                              headers=headers)
        body = response.json()
        failed = "x-function-error" in response.headers
        return InvokeResponse(response.status_code, None if failed else body,
                              body if failed else None, response.headers.get("x-request-id", ""),
                              dict(response.headers))

    def invoke_async(self, name: str, event: Any = None, *,
                     qualifier: str | None = None) -> str:
        """Queue an Event invocation; return its request id (202 once durable)."""
        params = {"qualifier": qualifier} if qualifier else None
        response = self._call("POST", f"/functions/{name}/invocations", params=params,
                              content=json.dumps({} if event is None else event),
                              headers={"x-invocation-type": "Event"})
        return str(response.json()["requestId"])

    def logs(self, name: str, limit: int = 20) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/functions/{name}/logs",
                                                  params={"limit": limit}).json()
        return result

    def dead_letters(self, function: str | None = None) -> list[dict[str, Any]]:
        params = {"function": function} if function else None
        result: list[dict[str, Any]] = self._call("GET", "/dead-letters", params=params).json()
        return result

    def redrive(self, ids: list[int] | None = None, function: str | None = None) -> int:
        body: dict[str, Any] = {}
        if ids is not None:
            body["ids"] = ids
        if function is not None:
            body["function"] = function
        return int(self._call("POST", "/dead-letters/redrive", json=body).json()["redriven"])

    def delete_dead_letter(self, letter_id: int) -> None:
        self._call("DELETE", f"/dead-letters/{letter_id}")

    def create_event_source(self, function: str, topic: str, bootstrap: str,
                            **settings: Any) -> dict[str, Any]:
        """Map ``topic`` (on the Kafka-compatible log at ``bootstrap``) to ``function``."""
        body = {"function": function, "topic": topic, "bootstrap": bootstrap, **settings}
        result: dict[str, Any] = self._call("POST", "/event-source-mappings", json=body).json()
        return result

    def event_sources(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/event-source-mappings").json()
        return result

    def delete_event_source(self, mapping_uuid: str) -> None:
        self._call("DELETE", f"/event-source-mappings/{mapping_uuid}")

    def hosts(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/hosts").json()
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats").json()
        return result
