"""Framing: however the stream is chunked, the same frames come out; bad sizes are refused."""

from __future__ import annotations

import itertools
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.broker import FrameTooLargeError, ProtocolError, UnsupportedVersionError
from bazaar.broker.apis import REGISTRY
from bazaar.broker.protocol import FrameDecoder, decode_request


def framed(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(p)) + p for p in payloads)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(min_size=8, max_size=300), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20))
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = framed(payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder(1000)
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out.extend(bytes(f) for f in decoder.feed(stream[a:b]))
    assert out == payloads
    assert decoder.pending == 0


@pytest.mark.parametrize("size", [-1, 0, 7, 1001, 2**31 - 1])
def test_sizes_out_of_bounds_are_refused(size: int) -> None:
    decoder = FrameDecoder(1000)
    with pytest.raises(FrameTooLargeError):
        decoder.feed(struct.pack(">i", size) + b"\x00" * 8)


def test_partial_frame_is_held_until_complete() -> None:
    decoder = FrameDecoder(1000)
    assert decoder.feed(b"\x00\x00") == []
    assert decoder.feed(b"\x00\x0a" + b"12345") == []
    assert decoder.pending == 5
    assert [bytes(f) for f in decoder.feed(b"67890" + b"\x00")] == [b"1234567890"]
    assert decoder.pending == 1


@pytest.mark.parametrize(("frame", "error"), [
    (struct.pack(">hhih", 999, 0, 1, -1), UnsupportedVersionError),
    (struct.pack(">hhih", 0, 2, 1, -1), UnsupportedVersionError),  # Produce v2
    (struct.pack(">hhih", 3, 1, 1, -1) + struct.pack(">i", 5), ProtocolError),
    (struct.pack(">hhih", 3, 1, 1, 40) + b"short", ProtocolError),
    (struct.pack(">hh", 3, 1), ProtocolError),
    (struct.pack(">hhih", 3, 1, 1, 2) + b"\xff\xfe", ProtocolError),  # client id not UTF-8
])
def test_undecodable_requests_raise_protocol_errors(frame: bytes,
                                                    error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_request(frame, REGISTRY)


def test_each_api_has_its_own_limit_checked_before_the_body() -> None:
    limits = {0: 10_000}  # Produce may be large, everything else small
    decoder = FrameDecoder(lambda key: limits.get(key, 100))
    produce = struct.pack(">h", 0) + b"p" * 5000
    assert [bytes(f) for f in decoder.feed(framed([produce]))] == [produce]
    with pytest.raises(FrameTooLargeError, match="API key 3"):
        decoder.feed(struct.pack(">ih", 5000, 3))  # a Metadata claiming 5000: no body read


class Pool:
    """At most ``capacity`` bytes granted at once, as the server's pool does."""

    def __init__(self, capacity: int) -> None:
        self.capacity, self.used, self.peak = capacity, 0, 0

    def reserve(self, n: int) -> bool:
        if self.used + n > self.capacity:
            return False
        self.used += n
        self.peak = max(self.peak, self.used)
        return True


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(min_size=8, max_size=300), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20))
def test_a_full_pool_holds_input_back_and_loses_nothing(payloads: list[bytes],
                                                        cuts: list[int]) -> None:
    """A pool that fits one frame: each frame waits until the previous one is released."""
    stream = framed(payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    pool = Pool(300)
    decoder = FrameDecoder(1000, pool.reserve)
    out: list[bytes] = []

    def handle(frames: list[Any]) -> None:
        while frames:
            frame = frames.pop(0)
            out.append(bytes(frame))
            pool.used -= len(frame)  # handled: give its memory back, then retry
            frames.extend(decoder.resume())

    for a, b in itertools.pairwise(points):
        handle(decoder.feed(stream[a:b]))
    assert out == payloads
    assert pool.used == 0 and pool.peak <= 300
    assert decoder.pending == 0 and not decoder.blocked


def test_a_blocked_frame_reads_nothing_more_until_granted() -> None:
    pool = Pool(100)
    decoder = FrameDecoder(1000, pool.reserve)
    big = struct.pack(">h", 0) + b"b" * 198
    assert decoder.feed(framed([big]) + framed([b"\x00\x12small!"])) == []
    assert decoder.blocked and decoder.reserved == 0 and pool.used == 0
    pool.capacity = 1000
    assert [bytes(f) for f in decoder.resume()] == [big, b"\x00\x12small!"]
    assert pool.used == 200 + 8


def test_an_oversized_frame_behind_a_blocked_one_is_refused_on_resume() -> None:
    pool = Pool(100)
    decoder = FrameDecoder(1000, pool.reserve)
    big = struct.pack(">h", 0) + b"b" * 198
    assert decoder.feed(framed([big]) + struct.pack(">ih", 5000, 0)) == []
    pool.capacity = 1000
    with pytest.raises(FrameTooLargeError):
        decoder.resume()  # the caller (the server) closes that connection
