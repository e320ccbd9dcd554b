"""Group commit: an acks=all produce is answered only once an fdatasync covered its records.

One flusher task per broker. A produce that must be durable appends its batches (to the page
cache, as every produce does), then awaits :meth:`GroupCommit.durable` with the logs it
touched. The flusher takes every waiter queued so far, fdatasyncs each of their logs once,
in a worker thread so the event loop keeps appending meanwhile, and wakes them all. Waiters
that arrive during a sync wrote after it began, so they wait for the next round, which
covers every one of them: one fsync per dirty file per round, however many connections and
requests are waiting. This is how PostgreSQL commits (``commit_delay`` aside) and what a
single-node Kafka would need, since Kafka itself leaves durability to replication.

A failed fsync fails every request waiting on that file (``KAFKA_STORAGE_ERROR``): an
acknowledgement is never sent for records whose sync did not succeed. The partition then
stays offline (appends refused, syncs failed) until a restart: after an fsync error Linux
may drop the dirty pages and report the next fsync as a success, so a later "success" would
acknowledge records that are gone (PostgreSQL's "fsyncgate"; Kafka takes the log dir
offline too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from bazaar.broker._errors import StorageError
from bazaar.broker.log import Log

log = logging.getLogger("bazaar.broker")

_Waiter = tuple[tuple[Log, ...], "asyncio.Future[None]"]


def _sync(logs: list[Log]) -> dict[Log, OSError]:
    """fdatasync each log's active segment; the logs whose sync failed, with the error."""
    failed: dict[Log, OSError] = {}
    for lg in logs:
        if lg.failed is not None:
            failed[lg] = OSError(lg.failed)
            continue
        try:
            lg.flush()
        except OSError as exc:
            if not lg.closed:  # closed meanwhile (topic deleted): close() synced it
                failed[lg] = exc
    return failed


class GroupCommit:
    """The single flusher shared by every connection; :meth:`run` is its task."""

    def __init__(self) -> None:
        self._waiting: list[_Waiter] = []
        self._wake = asyncio.Event()
        self.rounds = 0  # sync rounds run (each one fdatasync per dirty file)
        self.requests = 0  # requests made durable

    async def durable(self, logs: Sequence[Log]) -> None:
        """Return once an fdatasync that began after this call covered ``logs``.

        Raises :class:`StorageError` if the sync failed.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((tuple(logs), future))
        self._wake.set()
        await future

    async def run(self) -> None:
        """Sync rounds until cancelled; waiters left when it stops are failed."""
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                batch, self._waiting = self._waiting, []
                if batch:
                    await self._round(batch)
        finally:
            self.close()

    async def _round(self, batch: list[_Waiter]) -> None:
        logs = list(dict.fromkeys(lg for logs, _ in batch for lg in logs))
        ends = [lg.end_offset for lg in logs]  # what this round's fdatasync covers
        try:
            failed = await asyncio.to_thread(_sync, logs)
        except asyncio.CancelledError:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StorageError("broker stopping before the sync ended"))
            raise
        self.rounds += 1
        for lg, end in zip(logs, ends, strict=True):
            if lg not in failed:
                lg.synced(end)  # durable now: visible to consumers (the high watermark)
        for lg, exc in failed.items():
            if lg.failed is None:
                lg.failed = str(exc)
                log.error("fdatasync of %s failed: %s; the partition is offline until a "
                          "restart", lg.directory.name, exc)
        for logs_, future in batch:
            if future.done():  # the connection went away meanwhile
                continue
            bad = [lg for lg in logs_ if lg in failed]
            if bad:
                future.set_exception(StorageError(
                    f"fdatasync of {bad[0].directory.name} failed: {failed[bad[0]]}"))
            else:
                self.requests += 1
                future.set_result(None)

    def close(self) -> None:
        """Fail every waiter still queued (the broker is stopping)."""
        batch, self._waiting = self._waiting, []
        for _, future in batch:
            if not future.done():
                with contextlib.suppress(asyncio.InvalidStateError):
                    future.set_exception(StorageError("broker stopping before the sync"))
