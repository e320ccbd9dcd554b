"""The race-conditions experiment's building blocks, small: every strategy fills every
night exactly; the unprotected baseline is the only one that can over-book."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from tests.support.shop import make_shop

from bazaar.lab import race_conditions as rc
from bazaar.shop.services import users
from bazaar.storage import schema


@pytest.mark.parametrize("strategy", rc.STRATEGIES)
def test_every_night_fills_exactly(engine: Engine, strategy: str) -> None:
    uid = users.register(make_shop(engine), "lab", "", "lab-password").id
    stats = rc.run_strategy(engine, strategy, clients=6, nights=2, deadline_s=60,
                            room_code="LAB-1", user_id=uid)
    assert stats.booked == 2 * rc.ROOMS and stats.over_booked == 0
    assert stats.row()["booked_per_s"] > 0 and len(stats.latencies_ms) == stats.booked
    with engine.connect() as conn:
        n = schema.room_nights
        assert conn.execute(select(n.c.reserved)).scalars().all() == [rc.ROOMS, rc.ROOMS]


def test_unprotected_baseline_counts_over_booking(engine: Engine) -> None:
    stats = rc.run_unprotected(engine, clients=6, nights=2, deadline_s=60, room_code="UNP")
    assert stats.booked >= 2 * rc.ROOMS
    assert stats.over_booked == stats.booked - 2 * rc.ROOMS
