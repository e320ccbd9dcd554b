"""A small durable journal: an append-only file of JSON lines, each prefixed by its CRC32C,
fdatasynced before an append returns, rewritten atomically when it has grown well past the
live state. The committed offsets and the transaction log are both kept this way.

A torn last line (a crash mid-write) fails its CRC, or has no newline: it was never
acknowledged, so it is cut off on open (else the next append would be glued to it and lost
too). A line whose CRC does not match is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from crc32c import crc32c


def _line(value: Any) -> bytes:
    body = json.dumps(value, separators=(",", ":")).encode()
    return b"%08x %s\n" % (crc32c(body), body)


class Journal:
    """JSON values appended durably to ``path``; :meth:`replay` reads back the intact ones."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        #: Lines in the file (the intact ones read back, plus those appended since).
        self.lines = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1

    def replay(self) -> Iterator[Any]:
        """Each intact value in the file, oldest first (cutting a torn tail first); then the
        journal is open for appends."""
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                data = data[:data.rfind(b"\n") + 1]
                with self.path.open("r+b") as f:
                    f.truncate(len(data))
                    os.fsync(f.fileno())
            for raw in data.splitlines():
                crc, _, body = raw.partition(b" ")
                try:
                    if int(crc, 16) != crc32c(body):
                        continue
                    value = json.loads(body)
                except ValueError:
                    continue
                self.lines += 1
                yield value
        self._open()

    def _open(self) -> None:
        if self._fd < 0:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def bloated(self, live: int) -> bool:
        """Whether the file holds well over ``live`` entries' worth of lines."""
        return self.lines > 2 * live + 1000

    def append(self, values: Iterable[Any]) -> None:
        """Append ``values`` in one write; durable on return (with ``fsync``)."""
        data = b"".join(_line(v) for v in values)
        if not data:
            return
        self._open()
        os.write(self._fd, data)
        if self.fsync:
            os.fdatasync(self._fd)
        self.lines += data.count(b"\n")

    def rewrite(self, values: Iterable[Any]) -> None:
        """Replace the file by ``values`` atomically (written, fsynced, renamed)."""
        tmp = self.path.with_suffix(".compact")
        count = 0
        with tmp.open("wb") as f:
            for v in values:
                f.write(_line(v))
                count += 1
            f.flush()
            os.fsync(f.fileno())
        self.close()
        os.replace(tmp, self.path)
        self.lines = count
        self._open()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
