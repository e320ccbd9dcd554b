"""DescribeAcls (key 29), CreateAcls (key 30), DeleteAcls (key 31), v0-1 each (v1 adds the
resource pattern type, KIP-290): one module, since the three share the ACL binding shape.

Enums as on the wire: resource type (1 ANY, 2 TOPIC, 3 GROUP, 4 CLUSTER, 5
TRANSACTIONAL_ID), operation (1 ANY, 2 ALL, 3 READ, 4 WRITE, 5 CREATE, 6 DELETE, 7 ALTER,
8 DESCRIBE, ...), permission (1 ANY, 2 DENY, 3 ALLOW), pattern (1 ANY, 2 MATCH, 3 LITERAL,
4 PREFIXED).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bazaar.broker.protocol.primitives import Reader, Writer

DESCRIBE_KEY, CREATE_KEY, DELETE_KEY = 29, 30, 31
VERSIONS = (0, 1)
LITERAL = 3


@dataclass(frozen=True, slots=True)
class Binding:
    """One ACL as the wire carries it (or, with ANY values and None names, a filter)."""

    resource_type: int
    resource_name: str | None
    pattern_type: int
    principal: str | None
    host: str | None
    operation: int
    permission: int


@dataclass(frozen=True, slots=True)
class AclsRequest:
    """DescribeAcls: one filter; CreateAcls: the bindings; DeleteAcls: the filters."""

    bindings: list[Binding]


@dataclass(frozen=True, slots=True)
class DescribeAclsResponse:
    error_code: int
    error_message: str | None
    bindings: list[Binding] = field(default_factory=list)
    throttle_time_ms: int = 0


@dataclass(frozen=True, slots=True)
class CreateAclsResponse:
    results: list[tuple[int, str | None]]  # per creation
    throttle_time_ms: int = 0


@dataclass(frozen=True, slots=True)
class DeleteAclsResponse:
    results: list[tuple[int, str | None, list[Binding]]]  # per filter: error, matches
    throttle_time_ms: int = 0


def _binding(r: Reader, version: int, *, nullable: bool) -> Binding:
    kind = r.int8()
    name = r.nullable_string() if nullable else r.string()
    pattern = r.int8() if version >= 1 else LITERAL
    principal = r.nullable_string() if nullable else r.string()
    host = r.nullable_string() if nullable else r.string()
    return Binding(kind, name, pattern, principal, host, r.int8(), r.int8())


def decode_describe(r: Reader, version: int) -> AclsRequest:
    return AclsRequest([_binding(r, version, nullable=True)])


def decode_create(r: Reader, version: int) -> AclsRequest:
    return AclsRequest(r.array(lambda rr: _binding(rr, version, nullable=False)))


def decode_delete(r: Reader, version: int) -> AclsRequest:
    return AclsRequest(r.array(lambda rr: _binding(rr, version, nullable=True)))


def _write_resource(w: Writer, b: Binding, version: int) -> None:
    w.int8(b.resource_type).string(b.resource_name or "")
    if version >= 1:
        w.int8(b.pattern_type)


def encode_describe(resp: DescribeAclsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).int16(resp.error_code)
    w.nullable_string(resp.error_message)
    groups: dict[tuple[int, str, int], list[Binding]] = {}
    for b in resp.bindings:
        groups.setdefault((b.resource_type, b.resource_name or "", b.pattern_type),
                          []).append(b)
    w.array_len(len(groups))
    for bindings in groups.values():
        _write_resource(w, bindings[0], version)
        w.array_len(len(bindings))
        for b in bindings:
            w.string(b.principal or "").string(b.host or "*").int8(b.operation)
            w.int8(b.permission)
    return w.getvalue()


def encode_create(resp: CreateAclsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for code, message in resp.results:
        w.int16(code).nullable_string(message)
    return w.getvalue()


def encode_delete(resp: DeleteAclsResponse, version: int) -> bytes:
    w = Writer().int32(resp.throttle_time_ms).array_len(len(resp.results))
    for code, message, matches in resp.results:
        w.int16(code).nullable_string(message).array_len(len(matches))
        for b in matches:
            w.int16(0).nullable_string(None)
            _write_resource(w, b, version)
            w.string(b.principal or "").string(b.host or "*").int8(b.operation)
            w.int8(b.permission)
    return w.getvalue()
