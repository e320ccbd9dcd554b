"""The audit trail written cheaply: one JSON line per authentication decision, buffered.

Every request pays for its audit line, so the line must cost little: it is rendered by orjson
from a small dict (no logging framework, no processors) and appended to an in-memory buffer (a
``bytearray``: keeping each line as its own object costs several times the rendering), which is
written out at most ``flush_after_s`` (default 10 ms) later, in one ``write``: under load,
hundreds of lines per system call (one ``write`` per line, or even per event-loop turn, costs
more than the line itself). Lines are also written on :meth:`flush`, :meth:`close` and at
interpreter exit. Called outside an event loop (a worker thread, a script), a line is written
at once.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

_EVENT = "auth.decision"


class JsonLinesAudit:
    """An :class:`~bazaar.auth.Audit` appending JSON lines (orjson, UNIX timestamps) to
    ``stream``: ``{"event": "auth.decision", "outcome": …, fields…, "level": "info",
    "timestamp": …}``. :meth:`flush` writes what is pending; :meth:`close` also closes."""

    def __init__(self, stream: BinaryIO, *, clock: Callable[[], float] = time.time,
                 flush_after_s: float = 0.01) -> None:
        self._stream = stream
        self._clock = clock
        self._flush_after_s = flush_after_s
        self._pending = bytearray()
        self._scheduled = False
        self._lock = threading.Lock()
        atexit.register(self.flush)

    @classmethod
    def open(cls, path: Path) -> JsonLinesAudit:
        """Append to ``path`` (its folder is created)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("ab"))

    def __call__(self, outcome: str, **fields: object) -> None:
        fields["event"] = _EVENT
        fields["outcome"] = outcome
        fields["level"] = "info"
        fields["timestamp"] = self._clock()
        self._pending += orjson.dumps(fields, default=str, option=orjson.OPT_APPEND_NEWLINE)
        if not self._scheduled:
            self._schedule()

    def allow(self, scheme: str, principal: str, kind: str, method: str, path: str,
              client: str) -> None:
        """``self("allow", scheme=…, …)`` for the hot path: the same line, built without
        keyword arguments."""
        self._pending += orjson.dumps(
            {"scheme": scheme, "principal": principal, "kind": kind, "method": method,
             "path": path, "client": client, "event": _EVENT, "outcome": "allow",
             "level": "info", "timestamp": self._clock()},
            option=orjson.OPT_APPEND_NEWLINE)
        if not self._scheduled:
            self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop in this thread: write now
            self.flush()
            return
        self._scheduled = True
        loop.call_later(self._flush_after_s, self.flush)

    def flush(self) -> None:
        """Write the pending lines (thread-safe)."""
        with self._lock:
            self._scheduled = False
            pending = self._pending
            count = len(pending)  # lines appended meanwhile stay for the next flush
            if not count or self._stream.closed:
                return
            data = bytes(pending[:count])
            del pending[:count]
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        self.flush()
        atexit.unregister(self.flush)
        self._stream.close()
