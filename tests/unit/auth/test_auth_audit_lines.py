"""The buffered audit trail: one JSON line per decision, written by the end of the loop turn."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

from bazaar.auth import JsonLinesAudit


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_outside_a_loop_each_line_is_written_at_once(tmp_path: Path) -> None:
    path = tmp_path / "a" / "audit.log"
    audit = JsonLinesAudit.open(path)
    audit("deny", scheme="bearer", reason="expired", path="/products/1")
    [line] = _lines(path)
    assert line["event"] == "auth.decision" and line["outcome"] == "deny"
    assert line["reason"] == "expired" and line["level"] == "info"
    assert isinstance(line["timestamp"], float)
    audit.close()


def test_in_a_loop_lines_are_batched_and_on_disk_soon_after(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = JsonLinesAudit(path.open("ab"), flush_after_s=0.05)

    async def burst() -> tuple[int, int]:
        for i in range(100):
            audit("allow", scheme="bearer", principal=str(i), path="/products/1")
        during = len(path.read_text().splitlines())
        await asyncio.sleep(0.2)
        audit("deny", scheme="-", reason="missing-credentials")
        return during, len(path.read_text().splitlines())

    # Nothing written while the burst ran, then all of it in order; a line still pending
    # when the program ends is written at close (the exit hook does the same).
    assert asyncio.run(burst()) == (0, 100)
    audit.close()
    lines = _lines(path)
    assert [d["principal"] for d in lines[:100]] == [str(i) for i in range(100)]
    assert lines[100]["outcome"] == "deny" and len(lines) == 101


def test_lines_from_threads_are_never_lost(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    audit = JsonLinesAudit.open(path)

    def work(t: int) -> None:
        for i in range(500):
            audit("allow", thread=t, i=i, odd=object())  # unknown types become strings

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    audit.close()
    lines = _lines(path)
    assert len(lines) == 2000
    assert {(d["thread"], d["i"]) for d in lines} == {(t, i) for t in range(4)
                                                     for i in range(500)}
