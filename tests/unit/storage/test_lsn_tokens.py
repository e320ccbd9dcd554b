"""LSN tokens: PostgreSQL's ``X/Y`` text, parsed strictly; anything else is no token."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bazaar.storage import format_lsn, parse_lsn


def test_postgres_text_round_trips() -> None:
    assert parse_lsn("0/3000148") == 0x3000148
    assert parse_lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert parse_lsn("16/b374d848") == parse_lsn("16/B374D848")
    assert format_lsn((0x16 << 32) | 0xB374D848) == "16/B374D848"
    assert format_lsn(0) == "0/0"


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_every_position_round_trips(position: int) -> None:
    assert parse_lsn(format_lsn(position)) == position


@pytest.mark.parametrize("garbage", [
    None, "", "0", "/", "0/", "/0", "G/0", "0/G", "-1/0", "1/2/3", "123456789/0",
    "0/123456789", "0x1/0x2", " 0 / 1 ", "0/1; DROP TABLE users", "\x00/\x00",
    "9" * 10_000, "\uff11/\uff12",  # full-width digits
])
def test_garbage_is_no_token(garbage: str | None) -> None:
    assert parse_lsn(garbage) is None


@given(st.text(max_size=40))
def test_parsing_never_raises(text: str) -> None:
    value = parse_lsn(text)
    assert value is None or 0 <= value < 2**64


def test_out_of_range_positions_are_refused() -> None:
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            format_lsn(bad)
