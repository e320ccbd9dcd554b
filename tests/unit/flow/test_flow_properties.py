"""Property: whatever workers report, in whatever order, a saga ends completed or fully
compensated; every compensation runs at most once per completed step; nothing is lost."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.flow import SAGA, make_engine

QUEUES = ["reserve", "charge", "ship", "notify", "release", "refund"]
outcome = st.sampled_from(["ok", "ok", "ok", "fail", "fatal", "lapse", "dup"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(outcome, min_size=1, max_size=40), sagas=st.integers(1, 3))
def test_every_saga_completes_or_compensates(script: list[str], sagas: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        engine, clock = make_engine(Path(d))
        engine.register(SAGA)
        runs = [engine.start("saga", {"order": i}).id for i in range(sagas)]
        steps = 0
        moves = iter(script)
        while any(engine.get(r).status not in ("COMPLETED", "FAILED") for r in runs):
            steps += 1
            assert steps < 500, "no progress"
            clock.advance(2.0)  # past every fixed backoff
            engine.sweep()
            for queue in QUEUES:
                for task in engine.poll(queue, "w", count=10):
                    move = next(moves, "ok")
                    if task.kind == "compensation" and move == "fatal":
                        move = "fail"  # compensations are retried (budget 3 for release)
                    if move == "ok":
                        engine.complete(task.id, {"id": f"{queue}-{task.execution_id}"})
                    elif move == "dup":
                        assert engine.complete(task.id, {"id": f"{queue}-{task.execution_id}"})
                        assert not engine.complete(task.id, {"id": "again"})
                    elif move == "fail":
                        engine.fail(task.id, "transient")
                    elif move == "fatal":
                        engine.fail(task.id, "fatal", retryable=False)
                    else:  # lapse: the worker vanishes; the sweeper redelivers
                        clock.advance(31)
        for run in runs:
            execution = engine.get(run)
            rows = engine.tasks(run)
            forward = {t.ref: t for t in rows if t.kind == "forward"}
            undone = [t.ref for t in rows if t.kind == "compensation" and t.status == "COMPLETED"]
            assert len(undone) == len(set(undone)), "a step was compensated twice"
            if execution.status == "COMPLETED":
                assert not undone and execution.output == {"shipment": f"ship-{run}"}
            else:
                assert execution.reason
                compensation_failed = "compensation of" in (execution.reason or "")
                for ref in ("reserve", "charge"):
                    row = forward.get(ref)
                    if row is not None and not compensation_failed:
                        assert row.status in ("COMPENSATED", "FAILED", "CANCELED"), (ref, row)
