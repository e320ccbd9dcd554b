"""AWS Lambda's own API at the frontend (``/2015-03-31/…``), in the shapes boto3's ``lambda``
client sends and parses, so ``boto3.client("lambda", endpoint_url=…)`` works unmodified.

Requests are signed with SigV4 (``bazaar functions keys create``) or carry a Bearer token.
Errors leave as Lambda's: the status, ``x-amzn-ErrorType: <Code>`` and ``{"Type", "message"}``
— from which botocore raises ``client.exceptions.<Code>``. Refusals of the auth layer too:
an unsigned request is ``MissingAuthenticationTokenException``, an unknown key
``UnrecognizedClientException``, a wrong signature or a clock off by more than 5 minutes
``InvalidSignatureException`` (403 each, as on AWS).
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bazaar.functions._errors import (
    Conflict,
    FunctionsError,
    HostLost,
    InvalidPackage,
    InvalidRequest,
    InvalidRequestContent,
    NoCapacity,
    PayloadTooLarge,
    QueueError,
    ResourceNotFound,
    TooManyRequests,
)
from bazaar.functions._model import FunctionSpec, InvocationResult
from bazaar.functions._platform import Platform
from bazaar.web import BodyTimeout, BodyTooLarge, ErrorMap

PREFIX = "/2015-03-31"
ACCOUNT = "000000000000"
REGION = "local"
#: Lambda's log tail: the last 4 KB of the invocation's log.
TAIL_BYTES = 4096
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")


class LambdaErrors(ErrorMap):
    """An :class:`ErrorMap` that renders Lambda's error shape instead of problem details:
    each mapping's ``title`` is the Lambda error code."""

    def response(self, exc: BaseException) -> Response:
        mapped = self.lookup(exc)
        if mapped is not None:
            return lambda_error(mapped.status, mapped.title, mapped.detail(exc))
        if isinstance(exc, HTTPException):
            if exc.status_code in (404, 405):
                return lambda_error(404, "UnknownOperationException", "Unknown operation")
            return lambda_error(exc.status_code, "InvalidRequestException", str(exc.detail))
        self.logger.error("unhandled error", exc_info=exc)
        return lambda_error(500, "ServiceException", "something went wrong on our side")


def lambda_error(status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> Response:
    """One Lambda error response (botocore reads the code from ``x-amzn-ErrorType``)."""
    return JSONResponse({"Type": "User" if status < 500 else "Service", "message": message},
                        status_code=status, headers={
                            "x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4()),
                            **(headers or {})})


def lambda_error_map() -> LambdaErrors:
    errors = LambdaErrors()
    for kind in (InvalidRequest, InvalidPackage, InvalidRequestContent, PayloadTooLarge,
                 ResourceNotFound, Conflict, TooManyRequests, QueueError, FunctionsError):
        errors.add(kind, kind.status, kind.code, kind.code)
    errors.add(NoCapacity, 503, "service", "ServiceException")
    errors.add(HostLost, 502, "service", "ServiceException")
    errors.add(BodyTooLarge, 413, "too-large", PayloadTooLarge.code,
               detail=lambda e: f"Request must be smaller than {e.limit} bytes for the "
                                "operation")
    errors.add(BodyTimeout, 408, "timeout", "RequestTimeoutException")
    return errors


#: An auth refusal's reason → Lambda's error code (every one a 403 on AWS).
_AUTH_CODES = {"missing-credentials": "MissingAuthenticationTokenException",
               "unknown-access-key": "UnrecognizedClientException",
               "insufficient-scope": "AccessDeniedException"}


async def refuse(scope: Any, send: Any, status: int, reason: str, detail: str,
                 headers: list[tuple[bytes, bytes]]) -> None:
    """The auth layer's refusals in Lambda's shapes (``AuthMiddleware(refuse=…)``)."""
    extra = {k.decode(): v.decode() for k, v in headers if k.lower() == b"retry-after"}
    if status in (401, 403):
        code = _AUTH_CODES.get(reason, "InvalidSignatureException")
        if reason == "missing-credentials":
            detail = "Missing Authentication Token"
        response = lambda_error(403, code, detail, extra)
    elif status == 429:
        response = lambda_error(429, TooManyRequests.code, "Rate exceeded", extra)
    elif status == 413:
        response = lambda_error(413, PayloadTooLarge.code, detail)
    else:
        response = lambda_error(status, "ServiceException", detail, extra)
    await response({"type": "http"}, _no_receive, send)


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    qualifier: str | None


def parse_target(text: str, qualifier: str | None) -> Target:
    """A FunctionName as Lambda takes it: ``name``, ``name:qualifier``, ``ACCOUNT:function:
    name[:qualifier]`` or the full ARN; with a ``Qualifier`` that must agree."""
    parts = text.split(":")
    derived: str | None = None
    if len(parts) >= 6 and parts[0] == "arn" and parts[5] == "function" and len(parts) <= 8:
        name, derived = parts[6] if len(parts) > 6 else "", (parts[7] if len(parts) == 8
                                                             else None)
    elif len(parts) in (3, 4) and parts[1] == "function":
        name, derived = parts[2], (parts[3] if len(parts) == 4 else None)
    elif len(parts) in (1, 2):
        name, derived = parts[0], (parts[1] if len(parts) == 2 else None)
    else:
        raise InvalidRequest(f"invalid function name {text!r}")
    if not name:
        raise InvalidRequest(f"invalid function name {text!r}")
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidRequest("The derived qualifier from the function name does not match "
                             "the specified qualifier.")
    return Target(name, qualifier if qualifier is not None else derived)


def function_arn(name: str, version: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{version}" if version else arn


def configuration(platform: Platform, name: str, qualifier: str | None = None
                  ) -> dict[str, Any]:
    """Lambda's FunctionConfiguration of a function (at a version or alias)."""
    ref = platform.registry.resolve(name, qualifier)
    spec = ref.spec
    path = platform.packages.path(ref.digest)
    size = path.stat().st_size if path.exists() else 0
    modified = time.strftime("%Y-%m-%dT%H:%M:%S.000+0000",
                             time.gmtime(path.stat().st_mtime if path.exists() else 0))
    return {
        "FunctionName": spec.name, "FunctionArn": function_arn(spec.name, ref.version),
        "Runtime": f"python{sys.version_info.major}.{sys.version_info.minor}",
        "Role": f"arn:aws:iam::{ACCOUNT}:role/bazaar", "Handler": spec.handler,
        "CodeSize": size, "CodeSha256": base64.b64encode(bytes.fromhex(ref.digest)).decode(),
        "Timeout": math.ceil(spec.timeout_s), "MemorySize": spec.memory_mb,
        "LastModified": modified, "Version": ref.version, "State": "Active",
        "LastUpdateStatus": "Successful", "PackageType": "Zip", "Architectures": ["x86_64"],
    }


def log_tail(result: InvocationResult, memory_mb: int) -> str:
    """The invocation's log as Lambda writes it (START, output, END, REPORT), its last 4 KB
    in base64, cut at a character boundary."""
    init = (f"\tInit Duration: {result.init_duration_ms:.2f} ms"
            if result.init_duration_ms is not None else "")
    text = (f"START RequestId: {result.request_id} Version: {result.version}\n{result.logs}"
            f"{'' if not result.logs or result.logs.endswith(chr(10)) else chr(10)}"
            f"END RequestId: {result.request_id}\n"
            f"REPORT RequestId: {result.request_id}\tDuration: {result.duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(result.duration_ms)} ms\tMemory Size: {memory_mb} MB"
            f"\tMax Memory Used: {math.ceil(result.max_memory_mb)} MB{init}\t\n")
    data = text.encode()[-TAIL_BYTES:]
    while data and (data[0] & 0xC0) == 0x80:  # not in the middle of a UTF-8 character
        data = data[1:]
    return base64.b64encode(data).decode()


async def _json_body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        raise InvalidRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object")
    return data


def _create_input(body: dict[str, Any]) -> tuple[FunctionSpec, bytes]:
    """CreateFunction's fields → our spec and zip. IAM roles are not ours (Bazaar's scopes
    are): ``Role`` is accepted and ignored; any ``python3.*`` runtime runs under Bazaar's
    bootstrap, ``provided``-style names are refused."""
    runtime = body.get("Runtime", "python3")
    if not isinstance(runtime, str) or not runtime.startswith("python3"):
        raise InvalidRequest(f"Runtime {runtime!r} is not supported: only python3.*")
    environment = body.get("Environment")
    if isinstance(environment, dict) and environment.get("Variables"):
        raise InvalidRequest("Environment variables are not supported yet: read settings "
                             "from a file in the package")
    code = body.get("Code")
    zipped = code.get("ZipFile") if isinstance(code, dict) else None
    if not isinstance(zipped, str):
        raise InvalidRequest("Code.ZipFile (a zip, base64) is required; S3 and images are "
                             "not supported")
    try:
        blob = base64.b64decode(zipped, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPackage("Code.ZipFile is not base64") from exc
    fields = {"name": body.get("FunctionName"), "handler": body.get("Handler"),
              "memory_mb": body.get("MemorySize", 128), "timeout_s": body.get("Timeout", 3)}
    if not isinstance(fields["name"], str) or not isinstance(fields["handler"], str):
        raise InvalidRequest("FunctionName and Handler are required strings")
    for key in ("memory_mb", "timeout_s"):
        if not isinstance(fields[key], int) or isinstance(fields[key], bool):
            raise InvalidRequest("MemorySize and Timeout must be integers")
    return FunctionSpec(name=fields["name"], handler=fields["handler"],
                        memory_mb=fields["memory_mb"], timeout_s=float(fields["timeout_s"])
                        ), blob


def lambda_routes(platform: Platform) -> Starlette:
    """The Lambda API's routes (Invoke, Create/Get/List/DeleteFunction), errors rendered in
    Lambda's shapes."""

    async def invoke(request: Request) -> Response:
        kind = request.headers.get("x-amz-invocation-type", "RequestResponse")
        if kind not in INVOCATION_TYPES:
            raise InvalidRequest(f"X-Amz-Invocation-Type must be one of {INVOCATION_TYPES}")
        log_type = request.headers.get("x-amz-log-type", "None")
        if log_type not in ("None", "Tail"):
            raise InvalidRequest("X-Amz-Log-Type must be None or Tail")
        target = parse_target(request.path_params["name"],
                              request.query_params.get("Qualifier"))
        ref = platform.registry.resolve(target.name, target.qualifier)  # 404 before the body
        payload = await request.body() or b"{}"
        try:
            json.loads(payload)
        except ValueError as exc:
            raise InvalidRequestContent(f"Could not parse request body into json: {exc}"
                                        ) from exc
        if kind == "DryRun":
            return Response(status_code=204, headers={"x-amzn-RequestId": str(uuid.uuid4())})
        if kind == "Event":
            request_id = await platform.invoke_async(target.name, payload, target.qualifier)
            return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
        result = await platform.invoke(target.name, payload, target.qualifier)
        headers = {"x-amzn-RequestId": result.request_id,
                   "X-Amz-Executed-Version": result.version}
        if result.error is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
        if log_type == "Tail":
            headers["X-Amz-Log-Result"] = log_tail(result, ref.spec.memory_mb)
        body = (result.payload or b"null") if result.error is None else json.dumps(
            result.error.to_dict()).encode()
        return Response(body, headers=headers, media_type="application/json")

    async def create(request: Request) -> Response:
        body = await _json_body(request)
        spec, blob = _create_input(body)
        await platform.create_function(spec, blob)
        if body.get("Publish") is True:
            await platform.publish(spec.name)
        return JSONResponse(configuration(platform, spec.name), status_code=201)

    async def get(request: Request) -> Response:
        target = parse_target(request.path_params["name"],
                              request.query_params.get("Qualifier"))
        config = configuration(platform, target.name, target.qualifier)
        return JSONResponse({"Configuration": config,
                             "Code": {"RepositoryType": "Bazaar", "Location": ""}})

    async def list_all(request: Request) -> Response:
        return JSONResponse({"Functions": [configuration(platform, name)
                                           for name in platform.registry.names()]})

    async def delete(request: Request) -> Response:
        target = parse_target(request.path_params["name"],
                              request.query_params.get("Qualifier"))
        if target.qualifier is not None:
            raise InvalidRequest("deleting one version is not supported; delete the function")
        await platform.delete_function(target.name)
        return Response(status_code=204)

    routes = [
        Route(PREFIX + "/functions/{name}/invocations", invoke, methods=["POST"]),
        Route(PREFIX + "/functions", create, methods=["POST"]),
        Route(PREFIX + "/functions", list_all, methods=["GET"]),
        Route(PREFIX + "/functions/", list_all, methods=["GET"]),
        Route(PREFIX + "/functions/{name}", get, methods=["GET"]),
        Route(PREFIX + "/functions/{name}", delete, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, exception_handlers=lambda_error_map().handlers())
