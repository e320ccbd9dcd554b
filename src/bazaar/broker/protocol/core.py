"""The pure protocol core: bytes in → frames → requests (events) → responses → bytes out.

No sockets here. The asyncio shell feeds received bytes to :class:`FrameDecoder`, hands each
frame to :func:`decode_request`, lets the broker answer, and writes what
:func:`encode_response` returns: bytes, and file ranges to ``sendfile``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bazaar.broker._errors import (
    ErrorCode,
    FrameTooLargeError,
    ProtocolError,
    UnsupportedVersionError,
)
from bazaar.broker.protocol.apis import (
    api_versions,
    create_topics,
    delete_topics,
    describe_groups,
    fetch,
    find_coordinator,
    heartbeat,
    init_producer_id,
    join_group,
    leave_group,
    list_groups,
    list_offsets,
    metadata,
    offset_commit,
    offset_fetch,
    produce,
    sync_group,
)
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


def _codec(name: str, module: Any) -> ApiCodec:
    return ApiCodec(module.API_KEY, name, module.VERSIONS, module.decode_request,
                    module.encode_response)


APIS: dict[int, ApiCodec] = {c.key: c for c in (
    _codec("Produce", produce),
    _codec("Fetch", fetch),
    _codec("ListOffsets", list_offsets),
    _codec("Metadata", metadata),
    _codec("OffsetCommit", offset_commit),
    _codec("OffsetFetch", offset_fetch),
    _codec("FindCoordinator", find_coordinator),
    _codec("JoinGroup", join_group),
    _codec("Heartbeat", heartbeat),
    _codec("LeaveGroup", leave_group),
    _codec("SyncGroup", sync_group),
    _codec("DescribeGroups", describe_groups),
    _codec("ListGroups", list_groups),
    _codec("ApiVersions", api_versions),
    _codec("CreateTopics", create_topics),
    _codec("DeleteTopics", delete_topics),
    _codec("InitProducerId", init_producer_id),
)}


def supported_versions() -> list[tuple[int, int, int]]:
    """(key, min, max) for every API we answer: what ApiVersions advertises."""
    return [(c.key, c.versions[0], c.versions[1]) for c in sorted(APIS.values(),
                                                                   key=lambda c: c.key)]


def api_name(key: int) -> str:
    codec = APIS.get(key)
    return codec.name if codec else f"unknown({key})"


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
    """Splits a byte stream into size-prefixed frames, refusing any over ``max_frame``.

    A frame that arrives whole inside one chunk is handed out as a view of that chunk (no
    copy); a larger one is collected chunk by chunk and joined once when complete, so memory
    grows with the bytes actually received, never with the size a client merely claims.
    """

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._head = bytearray()
        self._chunks: list[bytes | memoryview] = []
        self._size = -1  # of the frame being collected, -1 when between frames
        self._filled = 0

    def feed(self, data: bytes) -> list[Frame]:
        """Add received bytes; return the frames now complete (size prefix removed)."""
        frames: list[Frame] = []
        view = memoryview(data)
        pos, end = 0, len(view)
        while pos < end:
            if self._size < 0:
                need = 4 - len(self._head)
                if not self._head and end - pos >= 4:
                    size = int.from_bytes(view[pos:pos + 4], "big", signed=True)
                    pos += 4
                else:
                    self._head += view[pos:pos + need]
                    pos += min(need, end - pos)
                    if len(self._head) < 4:
                        break
                    size = int.from_bytes(self._head, "big", signed=True)
                    self._head.clear()
                if size < 8 or size > self.max_frame:
                    raise FrameTooLargeError(
                        f"frame of {size} bytes (limit {self.max_frame}): closing")
                if end - pos >= size:
                    frames.append(view[pos:pos + size])
                    pos += size
                    continue
                self._size, self._filled = size, 0
            n = min(self._size - self._filled, end - pos)
            self._chunks.append(view[pos:pos + n])
            self._filled += n
            pos += n
            if self._filled == self._size:
                frames.append(b"".join(self._chunks))
                self._chunks.clear()
                self._size = -1
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held back."""
        return len(self._head) + (self._filled if self._size >= 0 else 0)


def decode_request(frame: Frame) -> Request:
    """Decode one frame. Raises :class:`UnsupportedVersionError` (unknown key or version) or
    :class:`ProtocolError` (malformed); either way the caller closes the connection."""
    r = Reader(frame)
    api_key, version = r.int16(), r.int16()
    codec = APIS.get(api_key)
    if codec is None:
        raise UnsupportedVersionError(f"unknown API key {api_key}")
    lo, hi = codec.versions
    r.pos = 0
    if api_key == api_versions.API_KEY and not lo <= version <= hi:
        return Request(read_request_header(r, flexible=False), UnsupportedApiVersions())
    if not lo <= version <= hi:
        raise UnsupportedVersionError(f"{codec.name} v{version} (we speak v{lo}-v{hi})")
    flexible = api_key == api_versions.API_KEY and version >= 3
    header = read_request_header(r, flexible)
    try:
        body = codec.decode(r, version)
    except ProtocolError:
        raise
    except (ValueError, IndexError) as exc:
        raise ProtocolError(f"malformed {codec.name} v{version}: {exc}") from exc
    return Request(header, body)


def encode_response(header: RequestHeader, response: Any) -> list[Part]:
    """The framed response: first part holds size + header + leading bytes."""
    if isinstance(response, api_versions.ApiVersionsResponse) and not (
            api_versions.VERSIONS[0] <= header.api_version <= api_versions.VERSIONS[1]):
        version = 0
    else:
        version = header.api_version
    encoded = APIS[header.api_key].encode(response, version)
    parts: list[Part] = encoded if isinstance(encoded, list) else [encoded]
    size = fetch.parts_size(parts)
    head = frame_response(header.correlation_id, size)
    if parts and isinstance(parts[0], bytes):
        return [head + parts[0], *parts[1:]]
    return [head, *parts]


def unsupported_api_versions() -> api_versions.ApiVersionsResponse:
    return api_versions.ApiVersionsResponse(ErrorCode.UNSUPPORTED_VERSION, supported_versions())
