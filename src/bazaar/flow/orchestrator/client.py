"""An async client for the orchestrator's HTTP API (used by the worker SDK and the CLI)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bazaar.flow.errors import (
    DefinitionError,
    FlowError,
    InvalidState,
    LeaseLost,
    NotFound,
    StartConflict,
    StoreError,
    WorkflowUnavailable,
)


@dataclass(frozen=True)
class Task:
    """A leased task as a worker sees it."""

    id: str
    execution_id: str
    ref: str
    name: str
    kind: str
    input: dict[str, Any]
    attempt: int
    deliveries: int
    lease_s: float
    idempotency_key: str
    scheduled_at: float = 0.0

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Task:
        return cls(id=data["id"], execution_id=data["execution_id"], ref=data["ref"],
                   name=data["name"], kind=data["kind"], input=data["input"] or {},
                   attempt=data["attempt"], deliveries=data["deliveries"],
                   lease_s=data["lease_s"], idempotency_key=data["idempotency_key"],
                   scheduled_at=data.get("scheduled_at") or 0.0)


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    detail = str(body.get("detail", response.text))
    title = body.get("title", "")
    if response.status_code == 422:
        raise DefinitionError(list(body.get("problems") or [detail]))
    if response.status_code == 404:
        raise NotFound(detail)
    if response.status_code == 409 and title == "start conflict":
        raise StartConflict(detail, str(body.get("existing_id")))
    if response.status_code == 409 and title == "lease lost":
        raise LeaseLost(detail)
    if response.status_code == 409:
        raise InvalidState(detail)
    if response.status_code == 503:
        raise StoreError(detail)
    if response.status_code == 400:
        raise ValueError(detail)
    raise FlowError(f"HTTP {response.status_code}: {detail}")


class FlowClient:
    """``FlowClient("http://127.0.0.1:8300")``; pass ``transport`` to talk to an in-process
    app (``httpx.ASGITransport``). Connection failures raise :class:`WorkflowUnavailable`."""

    def __init__(self, base_url: str, *, timeout: float = 40.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                      transport=transport,
                                      limits=httpx.Limits(max_connections=64))

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> FlowClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def _request(self, method: str, path: str, *, json: Any = None,
                       params: Mapping[str, Any] | None = None, content: bytes | None = None,
                       timeout: float | None = None) -> Any:
        try:
            response = await self.http.request(
                method, f"/api{path}", params=params,
                content=orjson.dumps(json) if json is not None else content,
                headers={"content-type": "application/json"},
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TransportError as exc:
            raise WorkflowUnavailable(f"orchestrator at {self.base_url} unreachable: "
                                      f"{type(exc).__name__}: {exc}") from exc
        _raise_for(response)
        return orjson.loads(response.content) if response.content else None

    # definitions and executions
    async def register(self, definition: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
        if isinstance(definition, Mapping):
            content = orjson.dumps(dict(definition))
        else:
            content = definition.encode() if isinstance(definition, str) else definition
        result: dict[str, Any] = await self._request("POST", "/definitions", content=content)
        return result

    async def definitions(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = await self._request("GET", "/definitions")
        return result

    async def start(self, name: str, input: Mapping[str, Any] | None = None, *,
                    version: int | None = None, idempotency_key: str | None = None,
                    on_conflict: str = "return_existing") -> dict[str, Any]:
        result: dict[str, Any] = await self._request("POST", f"/workflows/{name}/start", json={
            "input": dict(input or {}), "version": version, "idempotency_key": idempotency_key,
            "on_conflict": on_conflict})
        return result

    async def executions(self, *, status: str | None = None, name: str | None = None,
                         limit: int = 50) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if name:
            params["name"] = name
        result: list[dict[str, Any]] = await self._request("GET", "/executions", params=params)
        return result

    async def execution(self, execution_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", f"/executions/{execution_id}")
        return result

    async def control(self, execution_id: str, action: str,
                      reason: str | None = None) -> dict[str, Any]:
        """``action``: terminate, pause, resume or retry."""
        if action not in ("terminate", "pause", "resume", "retry"):
            raise ValueError(f"unknown action {action!r}")
        result: dict[str, Any] = await self._request(
            "POST", f"/executions/{execution_id}/{action}", json={"reason": reason})
        return result

    async def signal(self, execution_id: str, ref: str,
                     output: Mapping[str, Any] | None = None) -> None:
        await self._request("POST", f"/executions/{execution_id}/signal/{ref}",
                            json={"output": dict(output or {})})

    async def queues(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._request("GET", "/queues")
        return result

    # workers
    async def poll(self, queue: str, worker: str, *, count: int = 1,
                   wait_s: float = 10.0) -> list[Task]:
        rows = await self._request("GET", f"/tasks/poll/{queue}", params={
            "worker": worker, "count": count, "wait_s": wait_s}, timeout=wait_s + 30.0)
        return [Task.from_json(r) for r in rows]

    async def heartbeat(self, task_id: str, worker: str) -> float:
        result = await self._request("POST", f"/tasks/{task_id}/heartbeat",
                                     json={"worker": worker})
        return float(result["lease_until"])

    async def complete(self, task_id: str, worker: str,
                       output: Mapping[str, Any] | None = None) -> bool:
        result = await self._request("POST", f"/tasks/{task_id}/result", json={
            "worker": worker, "status": "COMPLETED", "output": dict(output or {})})
        return bool(result["accepted"])

    async def fail(self, task_id: str, worker: str, error: str, *,
                   retryable: bool = True) -> bool:
        result = await self._request("POST", f"/tasks/{task_id}/result", json={
            "worker": worker, "status": "FAILED", "error": error, "retryable": retryable})
        return bool(result["accepted"])

    async def report(self, results: list[dict[str, Any]]) -> list[bool | str]:
        """Report many results at once: each ``{"task_id", "worker", "status": "COMPLETED"
        | "FAILED", "output" | "error", "retryable"}``. Per item: True (counted), False
        (already finished: ignored), or an error message."""
        answer = await self._request("POST", "/tasks/results", json={"results": results})
        return list(answer["accepted"])
