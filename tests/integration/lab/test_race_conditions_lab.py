"""The race-conditions experiment's building blocks, small: every strategy fills every
night exactly; the unprotected baseline over-books (its race made certain)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from tests.support.shop import make_shop

from bazaar.lab import race_conditions as rc
from bazaar.shop.adapters import schema
from bazaar.shop.services import users


@pytest.mark.parametrize("strategy", rc.STRATEGIES)
def test_every_night_fills_exactly(engine: Engine, strategy: str) -> None:
    uid = users.register(make_shop(engine), "lab", "", "lab-password").id
    stats = rc.run_strategy(engine, strategy, clients=6, nights=2, deadline_s=60,
                            room_code="LAB-1", user_id=uid)
    assert stats.booked == 2 * rc.ROOMS and stats.over_booked == 0
    assert stats.sold_out == 6 * 2  # each client turned away once per night, then moved on
    assert len(stats.latencies_ms) == stats.booked and stats.elapsed_s > 0
    assert stats.row()["booked_per_s"] == pytest.approx(stats.booked / stats.elapsed_s)
    if strategy != "optimistic":  # the lab's claim: locks and one UPDATE never retry
        assert stats.conflicts == stats.retry_answers == 0
    with engine.connect() as conn:
        n = schema.room_nights
        assert conn.execute(select(n.c.reserved)).scalars().all() == [rc.ROOMS, rc.ROOMS]


def test_unprotected_baseline_over_books(engine: Engine) -> None:
    clients, nights = 6, 2
    stats = rc.run_unprotected(engine, clients=clients, nights=nights, deadline_s=60,
                               room_code="UNP", align_first_round=True)
    # Six clients read "0 taken" before any writes: five of the six first sales are lost
    # updates, so the counter reaches "full" only after at least five rooms too many.
    assert stats.over_booked >= clients - 1
    assert stats.over_booked == stats.booked - nights * rc.ROOMS
    assert stats.sold_out == clients * nights  # everyone was turned away at the end
    with engine.connect() as conn:
        n = schema.room_nights
        # The counter says "full" — it cannot tell that more rooms were sold than exist.
        assert conn.execute(select(n.c.reserved)).scalars().all() == [rc.ROOMS] * nights
