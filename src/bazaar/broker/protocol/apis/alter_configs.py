"""AlterConfigs (key 33), v0-1, and IncrementalAlterConfigs (key 44), v0: change a topic's
configs; both answer with one error per resource."""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.broker.protocol.primitives import Reader, Writer

API_KEY = 33
VERSIONS = (0, 1)
SET, DELETE = 0, 1  # IncrementalAlterConfigs operations (2 APPEND, 3 SUBTRACT: refused)


@dataclass(frozen=True, slots=True)
class AlterResource:
    resource_type: int
    name: str
    configs: list[tuple[str, int, str | None]]  # name, operation (SET for AlterConfigs), value


@dataclass(frozen=True, slots=True)
class AlterConfigsRequest:
    resources: list[AlterResource]
    validate_only: bool
    incremental: bool = False


@dataclass(frozen=True, slots=True)
class AlterConfigsResponse:
    results: list[tuple[int, str | None, int, str]]  # error, message, type, name
    throttle_time_ms: int = 0


def decode_request(r: Reader, version: int) -> AlterConfigsRequest:
    resources = r.array(lambda r: AlterResource(r.int8(), r.string(), r.array(
        lambda r: (r.string(), SET, r.nullable_string()))))
    return AlterConfigsRequest(resources, r.boolean())


def decode_incremental(r: Reader, version: int) -> AlterConfigsRequest:
    def entry(r: Reader) -> tuple[str, int, str | None]:
        name, op = r.string(), r.int8()
        return name, op, r.nullable_string()

    resources = r.array(lambda r: AlterResource(r.int8(), r.string(), r.array(entry)))
    return AlterConfigsRequest(resources, r.boolean(), incremental=True)


def encode_response(resp: AlterConfigsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for code, message, rtype, name in resp.results:
        w.int16(code).nullable_string(message).int8(rtype).string(name)
    return w.getvalue()
