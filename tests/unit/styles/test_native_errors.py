"""One classification, four native shapes: each shop error becomes the same shared code, and
each style's carrier says it its own way (gRPC status + details, SOAP fault code and HTTP
status, GraphQL extensions)."""

from __future__ import annotations

import pytest
from google.rpc import code_pb2, error_details_pb2
from lxml import etree

from bazaar.api.graph.errors import as_graphql
from bazaar.api.outcomes import classify
from bazaar.api.problems import Unauthenticated
from bazaar.api.rpc.errors import status_of
from bazaar.api.soap import envelope
from bazaar.auth import AuthenticationFailed, RateLimited
from bazaar.shop.domain import (
    Forbidden,
    IdempotencyKeyReused,
    InvalidInput,
    NotFound,
    RetryableConflict,
    SoldOut,
    StateConflict,
    Unavailable,
)

CASES = [  # exception, shared code, gRPC code, SOAP 1.1 faultcode, SOAP 1.2 HTTP status
    (InvalidInput("limit", "too big"), "BAD_USER_INPUT", code_pb2.INVALID_ARGUMENT, "Client",
     400),
    (IdempotencyKeyReused("k"), "IDEMPOTENCY_KEY_REUSED", code_pb2.INVALID_ARGUMENT, "Client",
     400),
    (NotFound("order", 7), "NOT_FOUND", code_pb2.NOT_FOUND, "Client", 400),
    (SoldOut("product", 1, 5, 2), "SOLD_OUT", code_pb2.FAILED_PRECONDITION, "Client", 400),
    (StateConflict("already cancelled", "cancelled"), "CONFLICT",
     code_pb2.FAILED_PRECONDITION, "Client", 400),
    (RetryableConflict(), "RETRY", code_pb2.ABORTED, "Server", 500),
    (Forbidden("no"), "FORBIDDEN", code_pb2.PERMISSION_DENIED, "Client", 400),
    (Unauthenticated(), "UNAUTHENTICATED", code_pb2.UNAUTHENTICATED, "Client", 401),
    (AuthenticationFailed("expired", "the token expired"), "UNAUTHENTICATED",
     code_pb2.UNAUTHENTICATED, "Client", 401),
    (RateLimited("rate-limited", 2.4), "RATE_LIMITED", code_pb2.RESOURCE_EXHAUSTED, "Client",
     429),
    (Unavailable("db down"), "UNAVAILABLE", code_pb2.UNAVAILABLE, "Server", 503),
    (ZeroDivisionError("a bug"), "INTERNAL", code_pb2.INTERNAL, "Server", 500),
]


@pytest.mark.parametrize(("exc", "code", "grpc_code", "fault", "soap12_status"), CASES,
                         ids=[c[1] + ":" + type(c[0]).__name__ for c in CASES])
def test_each_error_has_one_code_in_every_style(exc: Exception, code: str, grpc_code: int,
                                                fault: str, soap12_status: int) -> None:
    outcome = classify(exc)
    assert outcome.code == code
    assert as_graphql(exc).extensions["code"] == code
    status = status_of(outcome)
    assert status.code == grpc_code
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info) and info.reason == code
    kinds = {d.TypeName().rsplit(".", 1)[-1] for d in status.details}
    assert ("RetryInfo" in kinds) == outcome.retryable
    assert ("BadRequest" in kinds) == (outcome.field is not None)
    root = etree.fromstring(envelope.fault(envelope.SOAP11, outcome))
    assert root.findtext(".//faultcode") == f"soap:{fault}"
    assert root.findtext(".//{urn:bazaar:shop:v1}code") == code
    assert envelope.fault_status(envelope.SOAP12, outcome) == soap12_status
    soap12 = etree.fromstring(envelope.fault(envelope.SOAP12, outcome))
    ns = {"s": envelope.SOAP12}
    assert soap12.findtext(".//s:Code/s:Value", namespaces=ns) == \
        f"soap:{'Sender' if fault == 'Client' else 'Receiver'}"
    assert soap12.findtext(".//s:Subcode/s:Value", namespaces=ns) == f"tns:{code}"


def test_internal_errors_say_nothing_about_the_bug() -> None:
    outcome = classify(RuntimeError("password=hunter2 in a traceback"))
    assert "hunter2" not in outcome.message and outcome.details == {}


def test_sold_out_details_reach_every_carrier() -> None:
    outcome = classify(SoldOut("product", 3, requested=9, available=2))
    assert as_graphql(SoldOut("product", 3, 9, 2)).extensions["available"] == 2
    info = error_details_pb2.ErrorInfo()
    status_of(outcome).details[0].Unpack(info)
    assert info.metadata["requested"] == "9" and info.metadata["available"] == "2"
    root = etree.fromstring(envelope.fault(envelope.SOAP11, outcome))
    assert root.findtext(".//{urn:bazaar:shop:v1}available") == "2"
