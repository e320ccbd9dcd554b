"""The pure protocol core: bytes in → frames → requests (events) → responses → bytes out.

No sockets here. The asyncio shell feeds received bytes to :class:`FrameDecoder`, hands each
frame to :func:`decode_request`, lets the broker answer, and writes what
:func:`encode_response` returns: bytes, and file ranges to ``sendfile``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bazaar.broker._errors import (
    FrameTooLargeError,
    ProtocolError,
    UnsupportedVersionError,
)
from bazaar.broker.protocol.apis import api_versions, fetch
from bazaar.broker.protocol.header import RequestHeader, frame_response, read_request_header
from bazaar.broker.protocol.primitives import Reader

Part = fetch.Part


@dataclass(frozen=True, slots=True)
class ApiCodec:
    """One API key: the versions we implement and how to read and write them."""

    key: int
    name: str
    versions: tuple[int, int]
    decode: Callable[[Reader, int], Any]
    encode: Callable[[Any, int], Any]
    flexible_from: int | None  # first flexible version (header v2 / response header v1)

    def flexible(self, version: int) -> bool:
        return self.flexible_from is not None and version >= self.flexible_from


@dataclass(frozen=True, slots=True)
class Request:
    """A decoded request: its header and the API's request object."""

    header: RequestHeader
    body: Any


@dataclass(frozen=True, slots=True)
class UnsupportedApiVersions:
    """ApiVersions at a version we do not know: answered in v0 with our list (KIP-511)."""


Frame = bytes | bytearray | memoryview


class FrameDecoder:
    """Splits a byte stream into size-prefixed frames, each checked before it is read.

    The first six bytes of a frame (its size and API key) decide: a size under 8 or over
    ``limit(api_key)`` raises :class:`FrameTooLargeError` with nothing more read; then
    ``reserve(size)`` must grant the frame that much memory from a pool shared by every
    connection (Kafka's ``queued.max.request.bytes``). If it does not, :attr:`blocked` is
    set and further input is held, unread, until :meth:`resume` gets the grant; the caller
    stops reading from the socket meanwhile. The caller gives a frame's memory back
    (``len(frame)``) once it has handled it, and :attr:`reserved` when the connection ends.

    A frame that arrives whole inside one chunk is handed out as a view of that chunk (no
    copy); a larger one is collected chunk by chunk and joined once when complete, so memory
    grows with the bytes actually received, never with the size a client merely claims.
    """

    def __init__(self, limit: int | Callable[[int], int],
                 reserve: Callable[[int], bool] | None = None) -> None:
        self.limit: Callable[[int], int] = ((lambda _key: limit) if isinstance(limit, int)
                                            else limit)
        self.reserve: Callable[[int], bool] = reserve or (lambda _size: True)
        self._head = bytearray()  # a frame's size and API key, while incomplete or blocked
        self._chunks: list[bytes | memoryview] = []
        self._size = -1  # of the frame being collected (granted), -1 when none
        self._filled = 0
        self._held: memoryview | None = None  # input not read while blocked
        self.blocked = False
        self.reserved = 0  # granted to the frame being collected

    def feed(self, data: bytes | memoryview) -> list[Frame]:
        """Add received bytes; return the frames now complete (size prefix removed)."""
        if self.blocked:
            held = b"" if self._held is None else bytes(self._held)
            self._held = memoryview(held + bytes(data))
            return []
        return self._run(memoryview(data))

    def resume(self) -> list[Frame]:
        """Ask again for the grant a blocked frame waits for; the frames then complete."""
        if not self.blocked or not self.reserve(self._head_size()):
            return []
        self.blocked = False
        held, self._held = self._held, None
        self._collect_from_head()
        return self._run(held if held is not None else memoryview(b""))

    def _head_size(self) -> int:
        return int.from_bytes(self._head[:4], "big", signed=True)

    def _collect_from_head(self) -> None:
        self._size = self._head_size()
        self.reserved = self._size
        self._chunks = [bytes(self._head[4:6])]
        self._filled = 2
        self._head.clear()

    def _run(self, view: memoryview) -> list[Frame]:
        frames: list[Frame] = []
        pos, end = 0, len(view)
        while pos < end:
            if self._size >= 0:  # collecting a granted frame
                n = min(self._size - self._filled, end - pos)
                self._chunks.append(view[pos:pos + n])
                self._filled += n
                pos += n
                if self._filled == self._size:
                    frames.append(b"".join(self._chunks))
                    self._chunks.clear()
                    self._size = -1
                    self.reserved = 0
                continue
            if not self._head and end - pos >= 6:  # the common case: header in this chunk
                size = int.from_bytes(view[pos:pos + 4], "big", signed=True)
                self._check(size, int.from_bytes(view[pos + 4:pos + 6], "big", signed=True))
                if not self.reserve(size):
                    self._head += view[pos:pos + 6]
                    return self._block(frames, view[pos + 6:])
                pos += 4
                if end - pos >= size:
                    frames.append(view[pos:pos + size])
                    pos += size
                else:
                    self._size, self._filled, self.reserved = size, 0, size
                continue
            take = min(6 - len(self._head), end - pos)
            self._head += view[pos:pos + take]
            pos += take
            if len(self._head) < 6:
                break
            size = self._head_size()
            self._check(size, int.from_bytes(self._head[4:6], "big", signed=True))
            if not self.reserve(size):
                return self._block(frames, view[pos:])
            self._collect_from_head()
        return frames

    def _block(self, frames: list[Frame], rest: memoryview) -> list[Frame]:
        self.blocked = True
        self._held = rest if len(rest) else None
        return frames

    def _check(self, size: int, key: int) -> None:
        limit = self.limit(key)
        if size < 8 or size > limit:
            raise FrameTooLargeError(f"frame of {size} bytes for API key {key} "
                                     f"(limit {limit}): closing")

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        held = len(self._held) if self._held is not None else 0
        return len(self._head) + (self._filled if self._size >= 0 else 0) + held


def decode_request(frame: Frame, apis: Mapping[int, ApiCodec]) -> Request:
    """Decode one frame with the codecs in ``apis`` (the broker's registry). Raises
    :class:`UnsupportedVersionError` (unknown key or version) or :class:`ProtocolError`
    (malformed); either way the caller closes the connection."""
    r = Reader(frame)
    api_key, version = r.int16(), r.int16()
    codec = apis.get(api_key)
    if codec is None:
        raise UnsupportedVersionError(f"unknown API key {api_key}")
    lo, hi = codec.versions
    r.pos = 0
    if api_key == api_versions.API_KEY and not lo <= version <= hi:
        return Request(read_request_header(r, flexible=False), UnsupportedApiVersions())
    if not lo <= version <= hi:
        raise UnsupportedVersionError(f"{codec.name} v{version} (we speak v{lo}-v{hi})")
    flexible = codec.flexible(version)
    header = read_request_header(r, flexible)
    try:
        body = codec.decode(r, version)
    except ProtocolError:
        raise
    except (ValueError, IndexError) as exc:
        raise ProtocolError(f"malformed {codec.name} v{version}: {exc}") from exc
    return Request(header, body)


def encode_response(header: RequestHeader, response: Any,
                    apis: Mapping[int, ApiCodec]) -> list[Part]:
    """The framed response: first part holds size + header + leading bytes."""
    if isinstance(response, api_versions.ApiVersionsResponse) and not (
            api_versions.VERSIONS[0] <= header.api_version <= api_versions.VERSIONS[1]):
        version = 0
    else:
        version = header.api_version
    codec = apis[header.api_key]
    encoded = codec.encode(response, version)
    parts: list[Part] = encoded if isinstance(encoded, list) else [encoded]
    size = fetch.parts_size(parts)
    # ApiVersions keeps response header v0 even when flexible (KIP-511)
    tagged = codec.flexible(version) and header.api_key != api_versions.API_KEY
    head = frame_response(header.correlation_id, size, tagged=tagged)
    if parts and isinstance(parts[0], bytes):
        return [head + parts[0], *parts[1:]]
    return [head, *parts]
