"""JSON in and out with msgspec: one encoder, one cached decoder per body type."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

T = TypeVar("T")

_ENCODER = msgspec.json.Encoder()


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
    the app's limit (413) from its ``Content-Length`` or as its chunks arrive.
    """
    decoded: T = _decoder(kind).decode(await request.body() or b"null")
    return decoded
