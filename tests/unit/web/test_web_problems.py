"""The one problem renderer and the one error map (in-process, no sockets)."""

from __future__ import annotations

import json

import msgspec
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

import bazaar.web as web
from bazaar.web import TYPE_BASE, ErrorMap, Guard, Limits, problem_body


class ThingMissing(Exception):
    pass


class SpecialMissing(ThingMissing):
    pass


class Busy(Exception):
    pass


class Line(msgspec.Struct):
    quantity: int


class Order(msgspec.Struct):
    lines: list[Line]


def test_the_facade_exports_exactly_its_public_names() -> None:
    exported = {name for name in dir(web) if not name.startswith("_")}
    assert set(web.__all__) <= exported
    assert {name for name in exported
            if not isinstance(getattr(web, name), type(web))} == set(web.__all__)


def test_a_problem_has_one_type_base_and_always_a_reason() -> None:
    body = json.loads(problem_body(404, "not-found", "Not found", "no order 7"))
    assert body == {"type": TYPE_BASE + "not-found", "title": "Not found", "status": 404,
                    "detail": "no order 7", "reason": "not-found"}
    nested = json.loads(problem_body(401, "auth/token-expired", "Unauthorized"))
    assert nested["type"] == "https://bazaar.invalid/problems/auth/token-expired"
    assert nested["reason"] == "token-expired"
    assert "detail" not in nested


def test_extensions_with_no_value_are_left_out() -> None:
    body = json.loads(problem_body(409, "sold-out", "Sold out", retryable=False, field=None,
                                   requested=3))
    assert body["retryable"] is False and body["requested"] == 3
    assert "field" not in body


def test_every_member_sent_is_in_the_problem_schema() -> None:
    schema = msgspec.json.schema(web.Problem)
    members = set(schema["$defs"]["Problem"]["properties"])
    body = json.loads(problem_body(422, "invalid-input", "Invalid input", "x", field="a",
                                   retryable=False))
    assert set(body) <= members


def _app(errors: ErrorMap, limits: Limits | None = None) -> Starlette:
    async def missing(request: Request) -> Response:
        raise SpecialMissing("no such special thing")

    async def busy(request: Request) -> Response:
        raise Busy("try later")

    async def bug(request: Request) -> Response:
        raise KeyError("secret internals")

    async def order(request: Request) -> Response:
        msgspec.json.decode(await request.body(), type=Order)
        return Response("ok")

    return Starlette(routes=[Route("/missing", missing), Route("/busy", busy),
                             Route("/bug", bug), Route("/order", order, methods=["POST"])],
                     middleware=[Middleware(Guard, errors=errors, limits=limits)],
                     exception_handlers=errors.handlers())


@pytest.fixture
def client() -> TestClient:
    errors = (ErrorMap.standard()
              .add(ThingMissing, 404, "not-found", "Not found")
              .add(Busy, 503, "unavailable", "Unavailable", retryable=True,
                   headers=lambda e: {"Retry-After": "3"}))
    return TestClient(_app(errors, Limits(max_body=100)), raise_server_exceptions=False)


def test_a_subclass_uses_its_nearest_mapped_ancestor(client: TestClient) -> None:
    r = client.get("/missing")
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "no such special thing"


def test_a_mapped_5xx_keeps_its_headers_and_closes(client: TestClient) -> None:
    r = client.get("/busy")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "3"
    assert r.headers["connection"] == "close"
    assert r.json()["retryable"] is True


def test_an_unmapped_error_is_a_500_that_hides_the_internals(client: TestClient) -> None:
    r = client.get("/bug")
    assert r.status_code == 500
    assert r.headers["connection"] == "close"
    assert r.json()["reason"] == "internal"
    assert "secret" not in r.text


def test_a_msgspec_error_names_the_field(client: TestClient) -> None:
    r = client.post("/order", content=b'{"lines": [{"quantity": "2"}]}')
    assert r.status_code == 422
    assert r.json()["field"] == "lines.0.quantity"
    r = client.post("/order", content=b'{"lines": [{}]}')
    assert r.json()["field"] == "lines.0.quantity"
    assert "missing" in r.json()["detail"]
    r = client.post("/order", content=b"{}")
    assert r.json()["field"] == "lines"
    r = client.post("/order", content=b"{nope")
    assert r.status_code == 422
    assert r.json()["field"] == "body"


def test_a_body_over_the_limit_is_413_even_when_the_app_reads_it(client: TestClient) -> None:
    r = client.post("/order", content=b"x" * 101)
    assert r.status_code == 413
    assert r.headers["connection"] == "close"
    assert r.json()["reason"] == "body-too-large"


def test_a_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"x" * 30

    r = client.post("/order", content=chunks())
    assert r.status_code == 413


def test_starlette_http_errors_become_problems(client: TestClient) -> None:
    r = client.delete("/missing")
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/problem+json"
    assert set(r.headers["allow"].split(", ")) == {"GET", "HEAD"}
    assert r.json()["reason"] == "method-not-allowed"
    assert client.get("/nowhere").json()["reason"] == "not-found"


@pytest.mark.parametrize("bad", [{"max_body": 0}, {"body_timeout_s": 0},
                                 {"header_timeout_s": -1}, {"max_connections": 0}])
def test_limits_refuse_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        Limits(**bad)  # type: ignore[arg-type]
