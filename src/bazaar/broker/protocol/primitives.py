"""The Kafka protocol's primitive types: big-endian ints, length-prefixed strings and bytes,
arrays, and (for flexible versions) unsigned varints, compact forms and tagged fields.

:class:`Reader` raises :class:`ProtocolError` on any short or malformed input, so a bad
frame can never raise anything a connection does not expect.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TypeVar

from bazaar.broker._errors import ProtocolError

T = TypeVar("T")

_I8 = struct.Struct(">b")
_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")


class Reader:
    """Reads primitives from a buffer, left to right."""

    __slots__ = ("buf", "pos")

    def __init__(self, buf: bytes | bytearray | memoryview, pos: int = 0) -> None:
        self.buf = memoryview(buf)
        self.pos = pos

    def _take(self, n: int) -> int:
        start = self.pos
        end = start + n
        if n < 0 or end > len(self.buf):
            raise ProtocolError(f"need {n} bytes at {start}, frame has {len(self.buf)}")
        self.pos = end
        return start

    def int8(self) -> int:
        return int(_I8.unpack_from(self.buf, self._take(1))[0])

    def boolean(self) -> bool:
        return self.int8() != 0

    def int16(self) -> int:
        return int(_I16.unpack_from(self.buf, self._take(2))[0])

    def int32(self) -> int:
        return int(_I32.unpack_from(self.buf, self._take(4))[0])

    def int64(self) -> int:
        return int(_I64.unpack_from(self.buf, self._take(8))[0])

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            byte = self.buf[self._take(1)]
            result |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return result
            shift += 7
            if shift > 35:
                raise ProtocolError("varint too long")

    def _text(self, n: int) -> str:
        start = self._take(n)
        try:
            return str(self.buf[start:start + n], "utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc

    def string(self) -> str:
        n = self.int16()
        if n < 0:
            raise ProtocolError("null where a string is required")
        return self._text(n)

    def nullable_string(self) -> str | None:
        n = self.int16()
        return None if n < 0 else self._text(n)

    def compact_string(self) -> str:
        n = self.uvarint() - 1
        if n < 0:
            raise ProtocolError("null where a string is required")
        return self._text(n)

    def bytes_(self) -> bytes:
        n = self.int32()
        if n < 0:
            raise ProtocolError("null where bytes are required")
        start = self._take(n)
        return bytes(self.buf[start:start + n])

    def nullable_view(self) -> memoryview | None:
        """Nullable bytes as a view into the frame (no copy: record batches)."""
        n = self.int32()
        if n < 0:
            return None
        start = self._take(n)
        return self.buf[start:start + n]

    def array(self, item: Callable[[Reader], T]) -> list[T]:
        n = self.int32()
        if n < 0:
            raise ProtocolError("null where an array is required")
        if n > len(self.buf) - self.pos:
            raise ProtocolError(f"array of {n} items cannot fit the frame")
        return [item(self) for _ in range(n)]

    def nullable_array(self, item: Callable[[Reader], T]) -> list[T] | None:
        n = self.int32()
        if n < 0:
            return None
        if n > len(self.buf) - self.pos:
            raise ProtocolError(f"array of {n} items cannot fit the frame")
        return [item(self) for _ in range(n)]

    def skip_tags(self) -> None:
        """Skip a tagged-fields section (flexible versions); we define no tags."""
        for _ in range(self.uvarint()):
            self.uvarint()
            self._take(self.uvarint())

    def remaining(self) -> int:
        return len(self.buf) - self.pos


class Writer:
    """Builds a response body; ``parts`` lets Fetch splice in file ranges later."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        self.buf = bytearray()

    def int8(self, v: int) -> Writer:
        self.buf += _I8.pack(v)
        return self

    def boolean(self, v: bool) -> Writer:
        self.buf.append(1 if v else 0)
        return self

    def int16(self, v: int) -> Writer:
        self.buf += _I16.pack(v)
        return self

    def int32(self, v: int) -> Writer:
        self.buf += _I32.pack(v)
        return self

    def int64(self, v: int) -> Writer:
        self.buf += _I64.pack(v)
        return self

    def uvarint(self, v: int) -> Writer:
        while v >= 0x80:
            self.buf.append((v & 0x7F) | 0x80)
            v >>= 7
        self.buf.append(v)
        return self

    def string(self, v: str) -> Writer:
        data = v.encode()
        self.buf += _I16.pack(len(data))
        self.buf += data
        return self

    def nullable_string(self, v: str | None) -> Writer:
        if v is None:
            self.buf += b"\xff\xff"
            return self
        return self.string(v)

    def compact_string(self, v: str) -> Writer:
        data = v.encode()
        self.uvarint(len(data) + 1)
        self.buf += data
        return self

    def bytes_(self, v: bytes | None) -> Writer:
        if v is None:
            self.buf += b"\xff\xff\xff\xff"
            return self
        self.buf += _I32.pack(len(v))
        self.buf += v
        return self

    def array_len(self, n: int) -> Writer:
        self.buf += _I32.pack(n)
        return self

    def empty_tags(self) -> Writer:
        self.buf.append(0)
        return self

    def getvalue(self) -> bytes:
        return bytes(self.buf)
