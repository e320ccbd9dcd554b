"""DescribeAcls, CreateAcls, DeleteAcls: the ACL file (``security/acls.json``) over the
wire, for admin clients. Needs DESCRIBE (describe) or ALTER (create, delete) on the cluster;
on a broker without SASL there are no ACLs to manage (SECURITY_DISABLED)."""

from __future__ import annotations

import logging

from bazaar.broker._errors import ConfigError, ErrorCode
from bazaar.broker._state import BrokerState, Client
from bazaar.broker.protocol.apis import acls as api
from bazaar.broker.security import Acl, AclStore

log = logging.getLogger("bazaar.broker")

SECURITY_DISABLED = 54
_TYPES = {2: "topic", 3: "group", 4: "cluster", 5: "transactional_id"}
_OPS = {2: "ALL", 3: "READ", 4: "WRITE", 5: "CREATE", 6: "DELETE", 7: "ALTER", 8: "DESCRIBE"}
_PATTERNS = {3: "literal", 4: "prefixed"}
_ANY, _MATCH, _ALLOW = 1, 2, 3


def _wire(acl: Acl) -> api.Binding:
    return api.Binding({v: k for k, v in _TYPES.items()}[acl.resource_type], acl.name,
                       {v: k for k, v in _PATTERNS.items()}[acl.pattern], acl.principal, "*",
                       {v: k for k, v in _OPS.items()}[acl.operation], _ALLOW)


def _matches(f: api.Binding, acl: Acl) -> bool:
    if f.resource_type != _ANY and _TYPES.get(f.resource_type) != acl.resource_type:
        return False
    if f.pattern_type not in (_ANY, _MATCH) and _PATTERNS.get(f.pattern_type) != acl.pattern:
        return False
    if f.resource_name is not None:
        if f.pattern_type == _MATCH:  # the ACLs that would apply to this name
            if not (acl.name == f.resource_name or (acl.pattern == "literal" and acl.name == "*")
                    or (acl.pattern == "prefixed" and f.resource_name.startswith(acl.name))):
                return False
        elif acl.name != f.resource_name:
            return False
    return ((f.principal is None or f.principal == acl.principal)
            and f.host in (None, "*")
            and (f.operation == _ANY or _OPS.get(f.operation) == acl.operation)
            and f.permission in (_ANY, _ALLOW))


def _store(state: BrokerState, client: Client, operation: str) -> tuple[AclStore | None, int]:
    store = state.authorizer.store
    if store is None:
        return None, SECURITY_DISABLED
    if not state.authorizer.allows_cluster(client.principal, operation):
        return None, ErrorCode.CLUSTER_AUTHORIZATION_FAILED
    return store, 0


async def describe_acls(state: BrokerState, req: api.AclsRequest, client: Client,
                        version: int) -> api.DescribeAclsResponse:
    store, code = _store(state, client, "DESCRIBE")
    if store is None:
        return api.DescribeAclsResponse(code, "no ACLs here" if code == SECURITY_DISABLED
                                        else "not authorized")
    f = req.bindings[0]
    return api.DescribeAclsResponse(0, None, [_wire(a) for a in store.all() if _matches(f, a)])


def _from_wire(b: api.Binding) -> Acl:
    if b.permission != _ALLOW:
        raise ConfigError("only ALLOW ACLs are supported")
    if b.host not in ("*", None):
        raise ConfigError("ACLs here hold for every host: use host *")
    if b.resource_type not in _TYPES or b.operation not in _OPS or \
            b.pattern_type not in _PATTERNS:
        raise ConfigError("resource type, operation or pattern type not supported")
    return Acl(b.principal or "", _TYPES[b.resource_type], b.resource_name or "",
               _OPS[b.operation], _PATTERNS[b.pattern_type])


async def create_acls(state: BrokerState, req: api.AclsRequest, client: Client,
                      version: int) -> api.CreateAclsResponse:
    store, code = _store(state, client, "ALTER")
    results: list[tuple[int, str | None]] = []
    for b in req.bindings:
        if store is None:
            results.append((code, "not authorized" if code else None))
            continue
        try:
            acl = _from_wire(b)
        except ConfigError as exc:
            results.append((ErrorCode.INVALID_REQUEST, str(exc)))
            continue
        if store.add(acl):
            log.info("ACL added by %s: %s", client.principal, acl)
        results.append((0, None))
    return api.CreateAclsResponse(results)


async def delete_acls(state: BrokerState, req: api.AclsRequest, client: Client,
                      version: int) -> api.DeleteAclsResponse:
    store, code = _store(state, client, "ALTER")
    results: list[tuple[int, str | None, list[api.Binding]]] = []
    for f in req.bindings:
        if store is None:
            results.append((code, "not authorized", []))
            continue
        gone = [a for a in store.all() if _matches(f, a)]
        for acl in gone:
            store.remove(acl)
            log.info("ACL removed by %s: %s", client.principal, acl)
        results.append((0, None, [_wire(a) for a in gone]))
    return api.DeleteAclsResponse(results)
