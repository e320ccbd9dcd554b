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

import asyncio
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
from bazaar.functions._model import LATEST, FunctionSpec, InvocationResult, check_environment
from bazaar.functions._packages import check_package
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


#: Lambda's limit on ``X-Amz-Client-Context``: 3,583 bytes of base64.
CLIENT_CONTEXT_LIMIT = 3583


def decode_client_context(header: str | None) -> str | None:
    """``X-Amz-Client-Context`` (base64 of a JSON object) → the JSON text the handler's
    ``context.client_context`` is read from; InvalidRequestContent when it is not one."""
    if header is None:
        return None
    if len(header) > CLIENT_CONTEXT_LIMIT:
        raise InvalidRequest(f"Client context must be at most {CLIENT_CONTEXT_LIMIT} bytes")
    try:
        text = base64.b64decode(header, validate=True).decode()
        data = json.loads(text)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON "
                                    "object.") from exc
    if not isinstance(data, dict):
        raise InvalidRequestContent("Client context must be a valid Base64-encoded JSON "
                                    "object.")
    return text


def function_arn(name: str, version: str | None = None) -> str:
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{arn}:{version}" if version else arn


def configuration(platform: Platform, name: str, qualifier: str | None = None,
                  description: str = "") -> dict[str, Any]:
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
        "Environment": {"Variables": dict(spec.environment)}, "Description": description,
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
    _refuse_unsupported(body)
    code = body.get("Code")
    blob = _zip_file(code.get("ZipFile") if isinstance(code, dict) else None, "Code.ZipFile")
    fields = {"name": body.get("FunctionName"), "handler": body.get("Handler"),
              "memory_mb": body.get("MemorySize", 128), "timeout_s": body.get("Timeout", 3)}
    if not isinstance(fields["name"], str) or not isinstance(fields["handler"], str):
        raise InvalidRequest("FunctionName and Handler are required strings")
    for key in ("memory_mb", "timeout_s"):
        if not isinstance(fields[key], int) or isinstance(fields[key], bool):
            raise InvalidRequest("MemorySize and Timeout must be integers")
    return FunctionSpec(name=fields["name"], handler=fields["handler"],
                        memory_mb=fields["memory_mb"], timeout_s=float(fields["timeout_s"]),
                        environment=_environment(body) or {}), blob


#: Lambda settings Bazaar does not have: refused with a reason rather than dropped.
_UNSUPPORTED = {"Layers": "layers", "VpcConfig": "VPCs", "DeadLetterConfig": "a dead-letter "
                "target (Event invokes that fail go to the platform's dead-letter store)",
                "KMSKeyArn": "KMS keys", "TracingConfig": "X-Ray tracing",
                "FileSystemConfigs": "EFS", "ImageConfig": "container images",
                "SnapStart": "SnapStart", "EphemeralStorage": "a /tmp size per function",
                "LoggingConfig": "CloudWatch logging settings"}


def _refuse_unsupported(body: dict[str, Any]) -> None:
    for key, what in _UNSUPPORTED.items():
        if body.get(key) not in (None, [], {}):
            raise InvalidRequest(f"{key} is not supported here: Bazaar has no {what}")
    runtime = body.get("Runtime", "python3")
    if not isinstance(runtime, str) or not runtime.startswith("python3"):
        raise InvalidRequest(f"Runtime {runtime!r} is not supported: only python3.*")
    if body.get("PackageType", "Zip") != "Zip":
        raise InvalidRequest("PackageType Image is not supported: only Zip")
    architectures = body.get("Architectures", ["x86_64"])
    if architectures != ["x86_64"]:
        raise InvalidRequest(f"Architectures {architectures!r} is not supported: x86_64 only")


def _environment(body: dict[str, Any]) -> dict[str, str] | None:
    """``Environment.Variables`` checked by Lambda's rules (None when not given)."""
    environment = body.get("Environment")
    if environment is None:
        return None
    if not isinstance(environment, dict):
        raise InvalidRequest("Environment must be an object with Variables")
    variables = environment.get("Variables", {})
    return check_environment(variables)


def _zip_file(zipped: object, field: str) -> bytes:
    if not isinstance(zipped, str):
        raise InvalidRequest(f"{field} (a zip, base64) is required; S3 and images are not "
                             "supported")
    try:
        return base64.b64decode(zipped, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidPackage(f"{field} is not base64") from exc


def _description(body: dict[str, Any]) -> str | None:
    description = body.get("Description")
    if description is not None and (not isinstance(description, str)
                                    or len(description) > 256):
        raise InvalidRequest("Description must be a string of at most 256 characters")
    return description


def alias_configuration(name: str, alias: dict[str, str]) -> dict[str, Any]:
    """Lambda's AliasConfiguration."""
    return {"AliasArn": function_arn(name, alias["name"]), "Name": alias["name"],
            "FunctionVersion": alias["version"], "Description": alias["description"],
            "RevisionId": str(uuid.uuid5(uuid.NAMESPACE_URL, json.dumps(alias,
                                                                         sort_keys=True)))}


def _routing(body: dict[str, Any]) -> None:
    routing = body.get("RoutingConfig")
    if routing not in (None, {}) and routing.get("AdditionalVersionWeights"):
        raise InvalidRequest("RoutingConfig (weighted aliases) is not supported here: an "
                             "alias points at one version")


#: StartingPosition in Lambda's terms → the consumer's.
_POSITIONS = {"TRIM_HORIZON": "earliest", "LATEST": "latest"}
_MAPPING_FIELDS = {"FunctionName", "Topics", "SelfManagedEventSource", "StartingPosition",
                   "BatchSize", "Enabled", "MaximumRetryAttempts"}


def _mapping_input(body: dict[str, Any]) -> dict[str, Any]:
    """CreateEventSourceMapping's fields (a self-managed Kafka source: a topic on Bazaar Log)
    → our mapping's."""
    if body.get("EventSourceArn") is not None:
        raise InvalidRequest("EventSourceArn (SQS, Kinesis, DynamoDB, MSK) is not supported "
                             "here: give Topics and SelfManagedEventSource (Bazaar Log, or any "
                             "Kafka-compatible broker)")
    unknown = sorted(k for k, v in body.items() if k not in _MAPPING_FIELDS and v is not None)
    if unknown:
        raise InvalidRequest(f"{', '.join(unknown)} not supported for a Kafka event source "
                             "mapping here")
    if body.get("Enabled") is False:
        raise InvalidRequest("a disabled mapping (Enabled: false) is not supported here")
    target = parse_target(str(body.get("FunctionName") or ""), None)
    topics = body.get("Topics")
    if not (isinstance(topics, list) and len(topics) == 1 and isinstance(topics[0], str)):
        raise InvalidRequest("Topics must name exactly one topic")
    source = body.get("SelfManagedEventSource")
    endpoints = source.get("Endpoints") if isinstance(source, dict) else None
    servers = endpoints.get("KAFKA_BOOTSTRAP_SERVERS") if isinstance(endpoints, dict) else None
    if not (isinstance(servers, list) and servers and all(isinstance(x, str) for x in servers)):
        raise InvalidRequest("SelfManagedEventSource.Endpoints.KAFKA_BOOTSTRAP_SERVERS must "
                             "list the broker's host:port")
    position = body.get("StartingPosition")
    if position not in _POSITIONS:
        raise InvalidRequest(f"StartingPosition must be one of {sorted(_POSITIONS)} "
                             "(AT_TIMESTAMP is not supported)")
    batch = body.get("BatchSize", 100)
    retries = body.get("MaximumRetryAttempts", 2)
    for key, value in (("BatchSize", batch), ("MaximumRetryAttempts", retries)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest(f"{key} must be an integer")
    return {"function": target.name, "qualifier": target.qualifier or LATEST,
            "topic": topics[0], "bootstrap": ",".join(servers),
            "starting_position": _POSITIONS[position], "batch_size": batch,
            "max_retries": retries, "event_format": "lambda"}


def mapping_configuration(mapping: dict[str, Any], state: str = "Enabled") -> dict[str, Any]:
    """Lambda's EventSourceMappingConfiguration of one of our mappings."""
    qualifier = mapping["qualifier"]
    position = {v: k for k, v in _POSITIONS.items()}[mapping["starting_position"]]
    config: dict[str, Any] = {
        "UUID": mapping["uuid"], "StartingPosition": position,
        "BatchSize": mapping["batch_size"],
        "FunctionArn": function_arn(mapping["function"],
                                    None if qualifier == LATEST else qualifier),
        "LastModified": mapping.get("created", 0.0), "State": state,
        "StateTransitionReason": "USER_INITIATED", "Topics": [mapping["topic"]],
        "SelfManagedEventSource": {"Endpoints": {
            "KAFKA_BOOTSTRAP_SERVERS": mapping["bootstrap"].split(",")}},
        "MaximumRetryAttempts": mapping["max_retries"],
        "LastProcessingResult": mapping.get("lastError") or "OK",
    }
    return config


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
        client_context = decode_client_context(request.headers.get("x-amz-client-context"))
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
        result = await platform.invoke(target.name, payload, target.qualifier,
                                       client_context=client_context)
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

    async def get_configuration(request: Request) -> Response:
        target = parse_target(request.path_params["name"],
                              request.query_params.get("Qualifier"))
        return JSONResponse(configuration(platform, target.name, target.qualifier))

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

    async def update_code(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        body = await _json_body(request)
        if target.qualifier is not None:
            raise InvalidRequest("UpdateFunctionCode changes $LATEST: give the function's name")
        _refuse_unsupported(body)
        blob = _zip_file(body.get("ZipFile"), "ZipFile")
        platform.registry.get(target.name)  # 404 before the package is checked
        if body.get("DryRun") is True:
            check_package(blob, platform.registry.get(target.name)[0].handler)
            return JSONResponse(configuration(platform, target.name))
        await platform.update_code(target.name, blob)
        if body.get("Publish") is True:
            version = await platform.publish(target.name)
            return JSONResponse(configuration(platform, target.name, version))
        return JSONResponse(configuration(platform, target.name))

    async def update_configuration(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        if target.qualifier is not None:
            raise InvalidRequest("UpdateFunctionConfiguration changes $LATEST: give the "
                                 "function's name")
        body = await _json_body(request)
        _refuse_unsupported(body)
        changes: dict[str, Any] = {}
        for key, setting in (("Handler", "handler"), ("MemorySize", "memory_mb"),
                             ("Timeout", "timeout_s")):
            if body.get(key) is not None:
                changes[setting] = body[key]
        if isinstance(changes.get("timeout_s"), int) and not isinstance(
                changes["timeout_s"], bool):
            changes["timeout_s"] = float(changes["timeout_s"])
        environment = _environment(body)
        if environment is not None:
            changes["environment"] = environment
        await platform.update_config(target.name, changes)
        return JSONResponse(configuration(platform, target.name))

    async def publish_version(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        body = await _json_body(request)
        description = _description(body) or ""
        expected = body.get("CodeSha256")
        if expected is not None:
            current = configuration(platform, target.name)["CodeSha256"]
            if expected != current:
                raise InvalidRequest(f"CodeSHA256 ({expected}) is different from current "
                                     f"CodeSHA256 in $LATEST ({current}). Please try again "
                                     "with the CodeSHA256 in $LATEST.")
        ref = await asyncio.to_thread(platform.registry.publish, target.name, description)
        found = {r.version: d for r, d in platform.registry.versions(target.name)}
        return JSONResponse(configuration(platform, target.name, ref.version,
                                          found.get(ref.version, "")), status_code=201)

    async def list_versions(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        versions = [configuration(platform, target.name)]
        versions += [configuration(platform, target.name, ref.version, description)
                     for ref, description in platform.registry.versions(target.name)]
        return JSONResponse({"Versions": versions})

    async def create_alias(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        body = await _json_body(request)
        _routing(body)
        alias, version = body.get("Name"), body.get("FunctionVersion")
        if not isinstance(alias, str) or not isinstance(version, str):
            raise InvalidRequest("Name and FunctionVersion are required strings")
        made = platform.registry.create_alias(target.name, alias, version,
                                              _description(body) or "")
        return JSONResponse(alias_configuration(target.name, made), status_code=201)

    async def get_alias(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        found = platform.registry.alias(target.name, request.path_params["alias"])
        return JSONResponse(alias_configuration(target.name, found))

    async def update_alias(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        body = await _json_body(request)
        _routing(body)
        version = body.get("FunctionVersion")
        if version is not None and not isinstance(version, str):
            raise InvalidRequest("FunctionVersion must be a string")
        changed = platform.registry.update_alias(target.name, request.path_params["alias"],
                                                 version, _description(body))
        return JSONResponse(alias_configuration(target.name, changed))

    async def list_aliases(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        wanted = request.query_params.get("FunctionVersion")
        return JSONResponse({"Aliases": [
            alias_configuration(target.name, a) for a in platform.registry.aliases(target.name)
            if wanted is None or a["version"] == wanted]})

    async def delete_alias(request: Request) -> Response:
        target = parse_target(request.path_params["name"], None)
        platform.registry.delete_alias(target.name, request.path_params["alias"])
        return Response(status_code=204)

    def _mapping(mapping_uuid: str) -> dict[str, Any]:
        for mapping in platform.event_sources():
            if mapping["uuid"] == mapping_uuid:
                return mapping
        raise ResourceNotFound(f"The resource you requested does not exist. (Service: Lambda, "
                               f"UUID: {mapping_uuid})")

    async def create_mapping(request: Request) -> Response:
        made = await platform.create_event_source(_mapping_input(await _json_body(request)))
        return JSONResponse(mapping_configuration(made, "Creating"), status_code=202)

    async def list_mappings(request: Request) -> Response:
        wanted = request.query_params.get("FunctionName")
        target = parse_target(wanted, None) if wanted else None
        if target is not None:
            platform.registry.get(target.name)
        return JSONResponse({"EventSourceMappings": [
            mapping_configuration(m) for m in platform.event_sources()
            if target is None or (m["function"] == target.name and (
                target.qualifier is None or m["qualifier"] == target.qualifier))]})

    async def get_mapping(request: Request) -> Response:
        return JSONResponse(mapping_configuration(_mapping(request.path_params["uuid"])))

    async def delete_mapping(request: Request) -> Response:
        found = _mapping(request.path_params["uuid"])
        await platform.delete_event_source(found["uuid"])
        return JSONResponse(mapping_configuration(found, "Deleting"), status_code=202)

    function = PREFIX + "/functions/{name}"
    mappings = PREFIX + "/event-source-mappings"
    routes = [
        Route(function + "/code", update_code, methods=["PUT"]),
        Route(function + "/configuration", update_configuration, methods=["PUT"]),
        Route(function + "/configuration", get_configuration, methods=["GET"]),
        Route(function + "/versions", publish_version, methods=["POST"]),
        Route(function + "/versions", list_versions, methods=["GET"]),
        Route(function + "/aliases", create_alias, methods=["POST"]),
        Route(function + "/aliases", list_aliases, methods=["GET"]),
        Route(function + "/aliases/{alias}", get_alias, methods=["GET"]),
        Route(function + "/aliases/{alias}", update_alias, methods=["PUT"]),
        Route(function + "/aliases/{alias}", delete_alias, methods=["DELETE"]),
        Route(mappings + "/", create_mapping, methods=["POST"]),
        Route(mappings, create_mapping, methods=["POST"]),
        Route(mappings + "/", list_mappings, methods=["GET"]),
        Route(mappings, list_mappings, methods=["GET"]),
        Route(mappings + "/{uuid}", get_mapping, methods=["GET"]),
        Route(mappings + "/{uuid}", delete_mapping, methods=["DELETE"]),
        Route(PREFIX + "/functions/{name}/invocations", invoke, methods=["POST"]),
        Route(PREFIX + "/functions", create, methods=["POST"]),
        Route(PREFIX + "/functions", list_all, methods=["GET"]),
        Route(PREFIX + "/functions/", list_all, methods=["GET"]),
        Route(PREFIX + "/functions/{name}", get, methods=["GET"]),
        Route(PREFIX + "/functions/{name}", delete, methods=["DELETE"]),
    ]
    return Starlette(routes=routes, exception_handlers=lambda_error_map().handlers())
