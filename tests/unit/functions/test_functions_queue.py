"""The durable event queue: leases, retries, dead letters, redrive, reopen."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bazaar.functions import DurableQueue, ResourceNotFound
from bazaar.functions._queue import Outcome


def test_lease_hides_then_settle(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    queue.put_many([("r1", "f", "$LATEST", b"{}"), ("r2", "f", "$LATEST", b"[1]")])
    first = queue.lease(1, lease_s=60)
    assert [e.request_id for e in first] == ["r1"]
    second = queue.lease(10, lease_s=60)
    assert [e.request_id for e in second] == ["r2"]
    assert queue.lease(10, lease_s=60) == []
    queue.settle([Outcome(first[0], "done"),
                  Outcome(second[0], "retry", not_before=time.time() + 60)])
    assert queue.depth() == 1
    assert queue.lease(10, lease_s=60) == []  # not due yet
    assert queue.release_leases() == 0


def test_dead_letters_and_redrive(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    queue.put_many([("r1", "f", "$LATEST", b"{}"), ("r2", "g", "1", b"{}")])
    events = queue.lease(10, lease_s=60)
    queue.settle([Outcome(e, "dead", reason="RetriesExhausted",
                          error={"errorType": "ValueError"}) for e in events])
    letters = queue.dead_letters()
    assert [(d.function, d.reason, d.attempts) for d in letters] == [
        ("f", "RetriesExhausted", 1), ("g", "RetriesExhausted", 1)]
    assert queue.depth() == 0
    with pytest.raises(ResourceNotFound):
        queue.redrive(ids=[letters[0].id, 999])
    assert len(queue.dead_letters()) == 2  # nothing moved
    assert queue.redrive(function="g") == 1
    assert [d.function for d in queue.dead_letters()] == ["f"]
    again = queue.lease(10, lease_s=60)
    assert [(e.function, e.qualifier, e.attempts) for e in again] == [("g", "1", 0)]
    queue.delete_dead_letter(letters[0].id)
    with pytest.raises(ResourceNotFound):
        queue.delete_dead_letter(letters[0].id)


def test_events_and_leases_survive_reopen(tmp_path: Path) -> None:
    queue = DurableQueue(tmp_path / "q.db")
    queue.put_many([(f"r{i}", "f", "$LATEST", b"{}") for i in range(5)])
    assert len(queue.lease(2, lease_s=600)) == 2  # then the process dies
    queue.close()
    reopened = DurableQueue(tmp_path / "q.db")
    assert reopened.depth() == 5
    assert len(reopened.lease(10, lease_s=600)) == 3
    assert reopened.release_leases() == 5
    assert len(reopened.lease(10, lease_s=600)) == 5


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(["put", "lease", "done", "retry", "dead", "redrive"]),
                max_size=40))
def test_no_event_is_lost(tmp_path_factory: pytest.TempPathFactory, ops: list[str]) -> None:
    queue = DurableQueue(tmp_path_factory.mktemp("q") / "q.db")
    put, done, leased = 0, 0, []
    for op in ops:
        if op == "put":
            queue.put_many([(f"r{put}", "f", "$LATEST", b"{}")])
            put += 1
        elif op == "lease":
            leased += queue.lease(2, lease_s=600)
        elif leased and op in ("done", "retry", "dead"):
            event = leased.pop()
            queue.settle([Outcome(event, op, not_before=0, reason="x")])
            done += op == "done"
        elif op == "redrive":
            queue.redrive()
        # every event is queued, dead, or done: never lost, never duplicated
        assert queue.depth() + len(queue.dead_letters(limit=10**6)) + done == put
