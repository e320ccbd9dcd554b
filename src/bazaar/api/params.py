"""Query strings and path ids: decoded by the msgspec types in :mod:`bazaar.api.schemas`
(which also document them), and named in the 422 when wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from bazaar.api.schemas import Id
from bazaar.shop.domain import InvalidInput
from bazaar.web import field_of

T = TypeVar("T")


@dataclass(frozen=True)
class Param:
    """One documented parameter that no msgspec type describes (a header, say)."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    where: str = "query"
    example: Any = field(default=None)
    #: OpenAPI ``explode`` (False: an array as one comma-separated value).
    explode: bool | None = None


def _list_fields(kind: type[Any]) -> frozenset[str]:
    found = _LISTS.get(kind)
    if found is None:
        info = msgspec.inspect.type_info(kind)
        assert isinstance(info, msgspec.inspect.StructType)
        found = _LISTS[kind] = frozenset(
            f.encode_name for f in info.fields
            if isinstance(_bare(f.type), msgspec.inspect.ListType))
    return found


def _bare(t: msgspec.inspect.Type) -> msgspec.inspect.Type:
    return t.type if isinstance(t, msgspec.inspect.Metadata) else t


_LISTS: dict[type[Any], frozenset[str]] = {}


def query(request: Request, kind: type[T]) -> T:
    """The query string as ``kind``: each parameter at most once, strings converted to the
    declared types and bounds (``?limit=`` is a 422 on ``limit``, not a default); a list is
    one comma-separated value (OpenAPI ``explode: false``)."""
    values: dict[str, Any] = {}
    lists = _list_fields(kind)
    for name, value in request.query_params.multi_items():
        if name in values:
            raise InvalidInput(name, "may be given at most once")
        values[name] = value.split(",") if name in lists else value
    try:
        return msgspec.convert(values, kind, strict=False)
    except msgspec.ValidationError as exc:
        path, message = field_of(exc)
        raise InvalidInput(path, message) from None


def path_id(request: Request, name: str) -> int:
    """A path id (``/orders/{order_id}``), held to the bounds of :data:`schemas.Id`."""
    try:
        found: int = msgspec.convert(request.path_params[name], Id)
    except msgspec.ValidationError as exc:
        raise InvalidInput(name, str(exc)) from None
    return found


def query_params(kind: type[Any]) -> tuple[dict[str, Any], ...]:
    """OpenAPI parameter objects for the fields of a query-string type."""
    schema = msgspec.json.schema(kind)
    definition = schema["$defs"][kind.__name__]
    required = set(definition.get("required", ()))
    out = []
    for name, prop in definition["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        param: dict[str, Any] = {"name": name, "in": "query", "required": name in required,
                                 "schema": prop}
        if description:
            param["description"] = description
        if prop.get("type") == "array":
            param["explode"] = False
            param["style"] = "form"
        out.append(param)
    return tuple(out)


def check_id(name: str, value: int) -> int:
    """An id given in a GraphQL argument, a protobuf field or a SOAP element: held to the same
    bounds as a REST path id, so every style refuses the same ids the same way."""
    if isinstance(value, bool) or not 1 <= value <= 2**63 - 1:
        raise InvalidInput(name, "must be a positive id")
    return value
