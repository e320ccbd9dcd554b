"""Value ↔ bytes. A cached entry is one tag byte then the payload: ``v`` + encoded value, or
``n`` for a cached "not found", so a stored null can never be confused with a stored value."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

import msgpack
import orjson

from bazaar.cache._errors import CodecError

T = TypeVar("T")
NULL = b"n"
VALUE = b"v"


class Codec(Protocol[T]):
    """Turns values into bytes and back."""

    def encode(self, value: T) -> bytes: ...
    def decode(self, data: bytes) -> T: ...


class MsgpackCodec(Generic[T]):
    """msgpack for plain values; ``to_plain``/``from_plain`` adapt richer types (dataclasses)."""

    def __init__(self, to_plain: Callable[[T], Any] | None = None,
                 from_plain: Callable[[Any], T] | None = None) -> None:
        self._to = to_plain
        self._from = from_plain

    def encode(self, value: T) -> bytes:
        try:
            return bytes(msgpack.packb(self._to(value) if self._to else value, use_bin_type=True))
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"cannot msgpack {type(value).__name__}: {exc}") from exc

    def decode(self, data: bytes) -> T:
        try:
            plain = msgpack.unpackb(data, raw=False)
        except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as exc:
            raise CodecError(f"cached bytes are not msgpack: {exc}") from exc
        return self._from(plain) if self._from else plain  # type: ignore[no-any-return]


class OrjsonCodec(Generic[T]):
    """JSON via orjson (dataclasses encode natively); ``from_plain`` rebuilds rich types."""

    def __init__(self, from_plain: Callable[[Any], T] | None = None) -> None:
        self._from = from_plain

    def encode(self, value: T) -> bytes:
        try:
            return orjson.dumps(value)
        except TypeError as exc:
            raise CodecError(f"cannot JSON-encode {type(value).__name__}: {exc}") from exc

    def decode(self, data: bytes) -> T:
        try:
            plain = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise CodecError(f"cached bytes are not JSON: {exc}") from exc
        return self._from(plain) if self._from else plain  # type: ignore[no-any-return]
