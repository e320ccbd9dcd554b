"""JSON in and out with msgspec: one encoder, one cached decoder per body type."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from bazaar.shop.domain import InvalidInput

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()


def encode(value: Any) -> bytes:
    """``value`` as the JSON bytes :func:`json` sends."""
    return _ENCODER.encode(value)


def json(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_ENCODER.encode(value), status_code=status, media_type="application/json",
                    headers=headers)


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    found = _DECODERS.get(kind)
    if found is None:
        found = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return found


async def body(request: Request, kind: type[T]) -> T:
    """Decode and type-check the JSON body; msgspec errors become 422 with the field.

    The size is bounded before this reads anything: ``bazaar.web.Guard`` refuses a body over
    the app's limit (413) from its ``Content-Length`` or as its chunks arrive. As in JSON
    Schema, a number with no fraction (``66.0``, ``1e2``) is an integer.
    """
    raw = await request.body() or b"null"
    try:
        decoded: T = _decoder(kind).decode(raw)
        return decoded
    except msgspec.ValidationError as exc:
        if "got `float`" not in str(exc):
            raise
    try:
        loose = msgspec.json.decode(raw)
    except RecursionError:
        raise InvalidInput("body", "is nested too deeply") from None
    converted: T = msgspec.convert(_integral(loose), kind)
    return converted


def _integral(value: Any, depth: int = 0) -> Any:
    """Integral floats as ints, a few levels down (the shop's bodies are shallow)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if depth > 8:
        return value
    if isinstance(value, list):
        return [_integral(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _integral(v, depth + 1) for k, v in value.items()}
    return value
