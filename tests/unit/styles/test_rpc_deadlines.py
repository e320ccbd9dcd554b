"""The gRPC handlers honour the caller's deadline: a call whose deadline has passed is refused
with DEADLINE_EXCEEDED before the use case runs; a use case still running when it passes is
abandoned with DEADLINE_EXCEEDED. (grpcio's ServicerContext, faked: only the members the
handler uses.)"""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from bazaar.api.rpc.gen import shop_pb2 as pb
from bazaar.api.rpc.server import Handlers


class Aborted(grpc.aio.AbortError):
    """What grpcio's abort raises (its AbortError), with the code kept for the test."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code


class Context:
    def __init__(self, remaining: float | None) -> None:
        self.remaining = remaining

    def time_remaining(self) -> float | None:
        return self.remaining

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", "Bearer t"),)

    def peer(self) -> str:
        return "ipv4:127.0.0.1:1"

    async def abort(self, code: grpc.StatusCode, message: str, **_: Any) -> None:
        raise Aborted(code)


class Principal:
    kind, id, scopes = "user", "1", frozenset({"shop:read"})


async def authenticate(*_: Any) -> Principal:
    return Principal()


def run(handlers: Handlers, context: Context, work: Any) -> grpc.StatusCode:
    handler = handlers.unary("GetProduct", pb.GetProductRequest, work)
    raw = pb.GetProductRequest(id=1).SerializeToString()
    with pytest.raises(Aborted) as info:
        asyncio.run(handler.unary_unary(raw, context))
    return info.value.code


def test_a_passed_deadline_is_refused_before_the_use_case() -> None:
    ran = []

    async def work(who: Any, request: Any) -> pb.Product:
        ran.append(request)
        return pb.Product(id=1)

    handlers = Handlers(None, authenticate)  # type: ignore[arg-type]
    assert run(handlers, Context(0.0), work) == grpc.StatusCode.DEADLINE_EXCEEDED
    assert ran == []


def test_a_use_case_outliving_the_deadline_is_abandoned() -> None:
    async def slow(who: Any, request: Any) -> pb.Product:
        await asyncio.sleep(30)
        return pb.Product(id=1)

    handlers = Handlers(None, authenticate)  # type: ignore[arg-type]
    assert run(handlers, Context(0.05), slow) == grpc.StatusCode.DEADLINE_EXCEEDED
