"""The frontend's inputs as msgspec types: they decode every body and query string (a wrong
one is a 422 naming the field) and they are what ``/openapi.json`` documents — the bounds are
:class:`~bazaar.functions._model.FunctionSpec`'s own, so documented and enforced agree."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

#: Ids and version numbers are 64-bit integers in the platform's SQLite files.
MAX_INT = 2**63 - 1

Name = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$",
                                   description="Letters, digits, '-', '_'; at most 64.")]
#: ``$LATEST``, a published version number, or an alias.
Qualifier = Annotated[str, msgspec.Meta(
    pattern=r"^(\$LATEST|[1-9][0-9]{0,17}|[A-Za-z][A-Za-z0-9_-]{0,63})$")]
Version = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,17}$",
                                      description="A published version number.")]
Handler = Annotated[str, msgspec.Meta(
    pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$",
    description="module.function")]
Memory = Annotated[int, msgspec.Meta(ge=32, le=10240)]
Timeout = Annotated[float, msgspec.Meta(gt=0, le=900)]
InitTimeout = Annotated[float, msgspec.Meta(gt=0, le=120)]
Concurrency = Annotated[int, msgspec.Meta(ge=0, le=10000)]
#: A function's environment variables (Lambda's rules: at most 4 KB as JSON, no reserved keys).
Environment = Annotated[dict[str, str], msgspec.Meta(
    max_length=1000, description="Environment variables for the handler; at most 4 KB.")]
LetterId = Annotated[int, msgspec.Meta(ge=1, le=MAX_INT)]
#: The zip, base64 in JSON (at most 50 MB once decoded; the body limit comes first).
Code = Annotated[str, msgspec.Meta(
    pattern=r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    description="The zip of the code, base64 (RFC 4648, padded).")]


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    """Settings to change; those left out keep their value (``concurrency: null`` drops a
    reservation; ``name``, if given, must be the function's own: no renames)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    handler: Handler | msgspec.UnsetType = msgspec.UNSET
    memory_mb: Memory | msgspec.UnsetType = msgspec.UNSET
    timeout_s: Timeout | msgspec.UnsetType = msgspec.UNSET
    init_timeout_s: InitTimeout | msgspec.UnsetType = msgspec.UNSET
    isolation: Literal["process", "namespace", "vm"] | msgspec.UnsetType = msgspec.UNSET
    allow_network: bool | msgspec.UnsetType = msgspec.UNSET
    concurrency: Concurrency | msgspec.UnsetType | None = msgspec.UNSET
    runtime: Literal["bazaar", "awslambdaric"] | msgspec.UnsetType = msgspec.UNSET
    environment: Environment | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__struct_fields__
                if getattr(self, f) is not msgspec.UNSET}


class Spec(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    handler: Handler = "app.handler"
    memory_mb: Memory = 128
    timeout_s: Timeout = 3.0
    init_timeout_s: InitTimeout = 10.0
    isolation: Literal["process", "namespace", "vm"] = "process"
    allow_network: bool = False
    concurrency: Concurrency | None = None
    runtime: Literal["bazaar", "awslambdaric"] = "bazaar"
    environment: Environment = msgspec.field(default_factory=dict)


class CreateIn(msgspec.Struct, forbid_unknown_fields=True):
    spec: Spec
    code: Code


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Code
    config: Settings | None = None


class AliasIn(msgspec.Struct, forbid_unknown_fields=True):
    version: Version


class RedriveIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[LetterId], msgspec.Meta(max_length=10_000)] | None = None
    function: Name | None = None


class InvokeQuery(msgspec.Struct, forbid_unknown_fields=True):
    qualifier: Qualifier | None = None


class LogsQuery(msgspec.Struct, forbid_unknown_fields=True):
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 20


class DeadLettersQuery(msgspec.Struct, forbid_unknown_fields=True):
    function: Name | None = None
