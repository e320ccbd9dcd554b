"""JSON in and out with msgspec: one encoder, one cached decoder per body type."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from bazaar.api.problems import BodyTooLarge

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


#: Bodies are small JSON documents; anything bigger is refused before it is buffered.
MAX_BODY = 64 * 1024


async def body(request: Request, kind: type[T]) -> T:
    """Decode and type-check the JSON body; msgspec errors become 422 with the field."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        raise BodyTooLarge(f"the body may be at most {MAX_BODY} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise BodyTooLarge(f"the body may be at most {MAX_BODY} bytes")
        chunks.append(chunk)
    decoded: T = _decoder(kind).decode(b"".join(chunks) or b"null")
    return decoded
