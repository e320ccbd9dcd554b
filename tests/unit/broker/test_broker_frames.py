"""Framing: however the stream is chunked, the same frames come out; bad sizes are refused."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.broker import FrameTooLargeError, ProtocolError, UnsupportedVersionError
from bazaar.broker.protocol import FrameDecoder, decode_request


def framed(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">i", len(p)) + p for p in payloads)


@settings(max_examples=200, deadline=None)
@given(payloads=st.lists(st.binary(min_size=8, max_size=300), max_size=12),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=20))
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], cuts: list[int]) -> None:
    stream = framed(payloads)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    decoder = FrameDecoder(max_frame=1000)
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out.extend(bytes(f) for f in decoder.feed(stream[a:b]))
    assert out == payloads
    assert decoder.pending == 0


@pytest.mark.parametrize("size", [-1, 0, 7, 1001, 2**31 - 1])
def test_sizes_out_of_bounds_are_refused(size: int) -> None:
    decoder = FrameDecoder(max_frame=1000)
    with pytest.raises(FrameTooLargeError):
        decoder.feed(struct.pack(">i", size) + b"\x00" * 8)


def test_partial_frame_is_held_until_complete() -> None:
    decoder = FrameDecoder(max_frame=1000)
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
        decode_request(frame)
