"""Group commit on its own: one fdatasync per dirty file per round, shared by every waiter;
a waiter that arrives during a sync waits for the next one; a failed sync acks nothing."""

from __future__ import annotations

import asyncio
import errno
import os
import threading
from pathlib import Path

import pytest

from bazaar.broker import LogConfig, StorageError
from bazaar.broker.group_commit import GroupCommit
from bazaar.broker.log import Log
from bazaar.broker.log import batch as rb


def _logs(tmp_path: Path, n: int) -> list[Log]:
    return [Log(tmp_path / f"t-{i}", LogConfig()) for i in range(n)]


def test_one_sync_per_dirty_file_covers_every_waiter(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real = os.fdatasync
    monkeypatch.setattr(os, "fdatasync",
                        lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    a, b = _logs(tmp_path, 2)

    async def go() -> GroupCommit:
        commit = GroupCommit()
        a.append(rb.build([(None, b"one")]))
        b.append(rb.build([(None, b"two")]))
        waiters = [asyncio.create_task(commit.durable(logs)) for logs in ([a], [a, b], [b], [a])]
        flusher = asyncio.create_task(commit.run())  # scheduled after all four waiters queue
        await asyncio.wait_for(asyncio.gather(*waiters), 10)
        flusher.cancel()
        return commit

    commit = asyncio.run(go())
    assert commit.rounds == 1 and commit.requests == 4
    assert sorted(Path(p).parent.name for p in synced) == ["t-0", "t-1"]
    for lg in (a, b):
        lg.close()


def test_a_waiter_arriving_during_a_sync_waits_for_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (lg,) = _logs(tmp_path, 1)
    in_sync, release = threading.Event(), threading.Event()
    covered: list[int] = []
    real = os.fdatasync

    def slow_sync(fd: int) -> None:
        size = os.fstat(fd).st_size
        in_sync.set()
        assert release.wait(10)
        real(fd)
        covered.append(size)

    monkeypatch.setattr(os, "fdatasync", slow_sync)

    async def go() -> tuple[bool, GroupCommit]:
        commit = GroupCommit()
        flusher = asyncio.create_task(commit.run())
        lg.append(rb.build([(None, b"first")]))
        first = asyncio.create_task(commit.durable([lg]))
        assert await asyncio.to_thread(in_sync.wait, 10)  # round one is inside fdatasync
        lg.append(rb.build([(None, b"second")]))
        second = asyncio.create_task(commit.durable([lg]))
        await asyncio.sleep(0)  # let it queue (no timing: one loop turn)
        release.set()
        await asyncio.wait_for(first, 10)
        second_done_with_first = second.done()
        await asyncio.wait_for(second, 10)
        flusher.cancel()
        return second_done_with_first, commit

    second_done_with_first, commit = asyncio.run(go())
    assert not second_done_with_first, "its bytes were written after round one began"
    assert commit.rounds == 2
    assert covered[-1] == lg.size, "round two covered the second append"
    lg.close()


def test_a_failed_sync_fails_its_waiters_and_acks_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad, good = _logs(tmp_path, 2)
    bad_fd = bad.active.store.fileno()
    real = os.fdatasync

    def failing(fd: int) -> None:
        if fd == bad_fd:
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", failing)

    async def go() -> list[BaseException | None]:
        commit = GroupCommit()
        for lg in (bad, good):
            lg.append(rb.build([(None, b"x")]))
        waiters = [asyncio.create_task(commit.durable(logs)) for logs in ([bad], [good],
                                                                           [good, bad])]
        flusher = asyncio.create_task(commit.run())
        results = await asyncio.gather(*waiters, return_exceptions=True)
        flusher.cancel()
        return [r if isinstance(r, BaseException) else None for r in results]

    results = asyncio.run(go())
    assert isinstance(results[0], StorageError) and results[1] is None
    assert isinstance(results[2], StorageError)
    assert results[0].code == 56  # KAFKA_STORAGE_ERROR: a client retries
    monkeypatch.setattr(os, "fdatasync", real)
    # the disk "recovers": its next fsync would succeed, but the failed log stays offline
    with pytest.raises(StorageError, match="offline"):
        bad.append(rb.build([(None, b"y")]))

    async def later() -> BaseException | None:
        commit = GroupCommit()
        flusher = asyncio.create_task(commit.run())
        try:
            await commit.durable([bad])
        except StorageError as exc:
            return exc
        finally:
            flusher.cancel()
        return None

    assert isinstance(asyncio.run(later()), StorageError)
    good.append(rb.build([(None, b"z")]))  # other partitions carry on
    for lg in (bad, good):
        lg.close()
