"""Generated input against every style: whatever a client sends — any document the schema
allows (hypothesis-graphql), any bytes as a SOAP body or a protobuf message — the answer is
the style's own error or a result, never an internal error, and the server keeps serving."""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator
from typing import Any

import hypothesis_graphql
import pytest
from google.protobuf import message as pb_message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.styles import LocalShop, local_shop

from bazaar.api.graph import sdl
from bazaar.api.rpc.gen import shop_pb2
from bazaar.api.rpc.server import Handlers, Refused
from bazaar.api.soap import envelope
from bazaar.api.soap.model import OPERATIONS
from bazaar.shop.domain import InvalidInput

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
DATES = st.dates(datetime.date(2020, 1, 1), datetime.date(2030, 1, 1)).map(str)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalShop]:
    with local_shop(tmp_path_factory.mktemp("fuzz"), rate_limit_per_s=1e9,
                    rate_limit_burst=1e9) as found:
        yield found


def _codes(body: dict[str, Any]) -> set[str]:
    return {e.get("extensions", {}).get("code") for e in body.get("errors") or []}


def _scalars() -> dict[str, Any]:
    from graphql import StringValueNode

    return {"Date": DATES.map(lambda d: StringValueNode(value=d))}


@FUZZ
@given(document=hypothesis_graphql.queries(sdl(), custom_scalars=_scalars()))
def test_any_query_is_answered_without_an_internal_error(shop: LocalShop,
                                                         document: str) -> None:
    r = shop.client.post("/graphql", json={"query": document}, headers=shop.user)
    assert r.status_code == 200, (document, r.text)
    codes = _codes(r.json())
    assert None not in codes and "INTERNAL" not in codes, (document, r.text)


@FUZZ
@given(document=hypothesis_graphql.mutations(sdl(), custom_scalars=_scalars()))
def test_any_mutation_is_answered_without_an_internal_error(shop: LocalShop,
                                                            document: str) -> None:
    r = shop.client.post("/graphql", json={"query": document}, headers=shop.user)
    assert r.status_code == 200, (document, r.text)
    codes = _codes(r.json())
    assert None not in codes and "INTERNAL" not in codes, (document, r.text)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(raw=st.binary(max_size=2048) | st.text(max_size=512).map(str.encode),
       kind=st.sampled_from(["text/xml", "application/soap+xml"]))
def test_any_bytes_as_a_soap_body_are_an_envelope_error_or_an_envelope(raw: bytes,
                                                                       kind: str) -> None:
    try:
        request = envelope.parse(raw, kind)
    except envelope.EnvelopeError:
        return
    op = {o.name: o for o in OPERATIONS}.get(request.operation)
    if op is not None:
        with contextlib.suppress(InvalidInput):  # the only refusal reading may make
            envelope.read(request.body, op.inputs)


REQUESTS = [m.input_type.name for m in
            shop_pb2.DESCRIPTOR.services_by_name["Shop"].methods]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(raw=st.binary(max_size=512), kind=st.sampled_from(REQUESTS))
def test_any_bytes_as_a_request_message_are_a_message_or_invalid_argument(
        raw: bytes, kind: str) -> None:
    message_type: type[pb_message.Message] = getattr(shop_pb2, kind)
    handlers = Handlers(None, None)  # type: ignore[arg-type]
    try:
        parsed = handlers.parse_request(message_type, raw)
    except Refused as exc:
        assert exc.outcome.code == "BAD_USER_INPUT" and exc.outcome.field == "request"
        return
    assert isinstance(parsed, message_type)


def test_the_server_still_serves_after_the_fuzzing(shop: LocalShop) -> None:
    r = shop.client.post("/graphql", json={"query": "{ me { id } }"}, headers=shop.user)
    assert r.json()["data"]["me"]["id"] == shop.user_id
