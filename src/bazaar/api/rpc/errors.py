"""gRPC's native errors: a status code per shared outcome code, and ``google.rpc`` details in
``grpc-status-details-bin`` (the Status message every gRPC client library can unpack):
``ErrorInfo`` always (reason: the shared code), ``BadRequest`` for a bad field,
``PreconditionFailure`` for sold out or a state conflict, ``RetryInfo`` when a retry may
succeed, ``ResourceInfo`` for what was not found."""

from __future__ import annotations

from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from bazaar.api.outcomes import Outcome

DOMAIN = "bazaar.shop"
DETAILS_KEY = "grpc-status-details-bin"

#: Shared outcome code → google.rpc.Code (grpc.StatusCode has the same numbers).
STATUS = {"BAD_USER_INPUT": code_pb2.INVALID_ARGUMENT,
          "IDEMPOTENCY_KEY_REUSED": code_pb2.INVALID_ARGUMENT,
          "NOT_FOUND": code_pb2.NOT_FOUND,
          "SOLD_OUT": code_pb2.FAILED_PRECONDITION,
          "CONFLICT": code_pb2.FAILED_PRECONDITION,
          "RETRY": code_pb2.ABORTED,
          "FORBIDDEN": code_pb2.PERMISSION_DENIED,
          "UNAUTHENTICATED": code_pb2.UNAUTHENTICATED,
          "RATE_LIMITED": code_pb2.RESOURCE_EXHAUSTED,
          "UNAVAILABLE": code_pb2.UNAVAILABLE,
          "INTERNAL": code_pb2.INTERNAL}


def _any(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def status_of(outcome: Outcome) -> status_pb2.Status:
    """The google.rpc.Status for ``outcome``."""
    metadata = {k: str(v) for k, v in outcome.details.items() if v is not None}
    details = [error_details_pb2.ErrorInfo(reason=outcome.code, domain=DOMAIN,
                                           metadata=metadata)]
    if outcome.field is not None:
        details.append(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=outcome.field,
                                                        description=outcome.message)]))
    if outcome.code in ("SOLD_OUT", "CONFLICT"):
        details.append(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(
                type=outcome.code, subject=str(outcome.details.get("reason", "")),
                description=outcome.message)]))
    if outcome.code == "NOT_FOUND":
        details.append(error_details_pb2.ResourceInfo(
            resource_type=str(outcome.details.get("kind", "")), description=outcome.message))
    if outcome.retryable:
        delay = int(outcome.details.get("retry_after_s", 1))
        details.append(error_details_pb2.RetryInfo(
            retry_delay=duration_pb2.Duration(seconds=delay)))
    return status_pb2.Status(code=STATUS[outcome.code], message=outcome.message,
                             details=[_any(d) for d in details])
