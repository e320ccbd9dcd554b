"""Simple ACLs, allow only: principal x resource (topic, group, cluster; a literal name,
``*``, or a prefix) x operation, in ``<data_dir>/security/acls.json``.

What is not allowed is denied, once the authorizer is on (it is on whenever the listener
asks for SASL); super users are allowed everything. As in Kafka, READ, WRITE, DELETE and
ALTER each imply DESCRIBE on the same resource, and ALL means every operation.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

from bazaar.broker._errors import ConfigError
from bazaar.broker.security._files import WatchedJson

RESOURCE_TYPES = ("topic", "group", "cluster", "transactional_id")
OPERATIONS = ("READ", "WRITE", "CREATE", "DESCRIBE", "ALTER", "DELETE", "ALL")
PATTERNS = ("literal", "prefixed")
_IMPLY_DESCRIBE = {"READ", "WRITE", "DELETE", "ALTER"}
_PRINCIPAL = re.compile(r"^User:(\*|[A-Za-z0-9._@-]{1,128})$")
CLUSTER = "kafka-cluster"


@dataclass(frozen=True, slots=True)
class Acl:
    principal: str  # User:alice, or User:* for every authenticated user
    resource_type: str
    name: str  # a name, * for all, or the prefix when pattern is prefixed
    operation: str
    pattern: str = "literal"

    def __post_init__(self) -> None:
        if not _PRINCIPAL.match(self.principal):
            raise ConfigError(f"principal must be User:<name> or User:*, got "
                              f"{self.principal!r}")
        if self.resource_type not in RESOURCE_TYPES:
            raise ConfigError(f"resource type must be one of {', '.join(RESOURCE_TYPES)}")
        if self.operation not in OPERATIONS:
            raise ConfigError(f"operation must be one of {', '.join(OPERATIONS)}")
        if self.pattern not in PATTERNS:
            raise ConfigError("pattern must be literal or prefixed")
        if not self.name or len(self.name) > 249:
            raise ConfigError("resource name must be 1-249 characters")

    def matches(self, principal: str, resource_type: str, name: str, operation: str) -> bool:
        if self.principal not in (principal, "User:*") or self.resource_type != resource_type:
            return False
        if self.pattern == "prefixed":
            if not name.startswith(self.name):
                return False
        elif self.name not in ("*", name):
            return False
        return self.operation in ("ALL", operation) or (
            operation == "DESCRIBE" and self.operation in _IMPLY_DESCRIBE)


class AclStore:
    def __init__(self, path: Path) -> None:
        self.file = WatchedJson(path, {"acls": []})
        self._acls: list[Acl] = []
        self._stamp: object = None

    @classmethod
    def under(cls, data_dir: Path) -> AclStore:
        return cls(data_dir / "security" / "acls.json")

    def all(self) -> list[Acl]:
        return list(self.current())

    def current(self) -> list[Acl]:
        """The ACLs now in force (re-read if the file changed; do not modify)."""
        self.file.maybe_reload()
        if self._stamp is not self.file.data:  # parse once per reload
            out = []
            for raw in self.file.data.get("acls", []):
                try:
                    out.append(Acl(**raw))
                except (TypeError, ConfigError):
                    continue  # a hand-edited bad entry allows nothing
            self._acls, self._stamp = out, self.file.data
        return self._acls

    def add(self, acl: Acl) -> bool:
        self.file.reload()
        acls = self.all()
        if acl in acls:
            return False
        self.file.data = {"acls": [asdict(a) for a in [*acls, acl]]}
        self.file.save()
        return True

    def remove(self, acl: Acl) -> bool:
        self.file.reload()
        acls = self.all()
        if acl not in acls:
            return False
        self.file.data = {"acls": [asdict(a) for a in acls if a != acl]}
        self.file.save()
        return True


class Authorizer:
    """``allows(principal, type, name, op)``; with ``enabled`` off everything is allowed
    (the plaintext loopback default)."""

    def __init__(self, store: AclStore | None, super_users: tuple[str, ...] = ()) -> None:
        self.store = store
        self.super_users = frozenset(super_users)

    @property
    def enabled(self) -> bool:
        return self.store is not None

    def allows(self, principal: str, resource_type: str, name: str, operation: str) -> bool:
        if self.store is None or principal in self.super_users:
            return True
        return any(a.matches(principal, resource_type, name, operation)
                   for a in self.store.current())

    def allows_cluster(self, principal: str, operation: str) -> bool:
        return self.allows(principal, "cluster", CLUSTER, operation)
