"""Producer ids for InitProducerId: unique across restarts, handed out from durable blocks."""

from __future__ import annotations

import os
from pathlib import Path

_BLOCK = 1000


class ProducerIds:
    """Allocates ids from blocks of 1000; the next block's start is fsynced before use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        start = 0
        if path.exists():
            try:
                start = int(path.read_text().strip() or 0)
            except ValueError:
                start = 0
        self._next = start
        self._limit = start

    def allocate(self) -> int:
        if self._next >= self._limit:
            self._limit = self._next + _BLOCK
            tmp = self.path.with_suffix(".tmp")
            with tmp.open("w") as f:
                f.write(str(self._limit))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        pid = self._next
        self._next += 1
        return pid
