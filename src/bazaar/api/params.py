"""Query parameters: typed, bounded, and named in the 422 when wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from starlette.requests import Request

from bazaar.shop.domain import InvalidInput


@dataclass(frozen=True)
class Param:
    """One documented parameter (query or header), for OpenAPI."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False
    where: str = "query"
    example: Any = field(default=None)


def int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(name, "must be an integer") from None


def int_or(request: Request, name: str, default: int) -> int:
    found = int_param(request, name)
    return default if found is None else found


def bool_param(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise InvalidInput(name, "must be true or false")


def date_param(request: Request, name: str) -> date:
    raw = request.query_params.get(name)
    if not raw:
        raise InvalidInput(name, "is required (YYYY-MM-DD)")
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(name, "must be a date, YYYY-MM-DD") from None


PAGE = (
    Param("after", {"type": "integer", "minimum": 0}, "Return items after this id "
          "(a previous page's next_after)."),
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}),
)
