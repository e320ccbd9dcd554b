"""Committed offsets, durable: an append-only file of JSON lines, each with a CRC32C, fsynced
on commit, compacted on start when it has grown well past the live entries.

A torn last line (a crash mid-write) fails its CRC and is ignored, so a commit is either
acknowledged and on disk, or neither.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from crc32c import crc32c

Key = tuple[str, str, int]  # group, topic, partition


@dataclass(frozen=True, slots=True)
class Committed:
    offset: int
    metadata: str | None


class OffsetStore:
    """(group, topic, partition) → committed offset, kept on disk at ``path``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self.fsync = fsync
        self._offsets: dict[Key, Committed] = {}
        self._lines = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._load()
        if self._lines > 2 * len(self._offsets) + 1000:
            self._compact()
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):  # torn last line: cut it, or the next append
            data = data[:data.rfind(b"\n") + 1]  # would be glued to it and lost too
            with self.path.open("r+b") as f:
                f.truncate(len(data))
                os.fsync(f.fileno())
        for raw in data.splitlines():
            crc, _, body = raw.partition(b" ")
            try:
                if int(crc, 16) != crc32c(body):
                    continue
                group, topic, partition, offset, metadata = json.loads(body)
            except (ValueError, TypeError):
                continue  # a torn or corrupt line: never acknowledged
            self._apply((group, topic, partition), offset, metadata)
            self._lines += 1

    def _apply(self, key: Key, offset: int, metadata: str | None) -> None:
        if offset < 0:
            self._offsets.pop(key, None)
        else:
            self._offsets[key] = Committed(offset, metadata)

    @staticmethod
    def _line(key: Key, offset: int, metadata: str | None) -> bytes:
        body = json.dumps([*key, offset, metadata], separators=(",", ":")).encode()
        return b"%08x %s\n" % (crc32c(body), body)

    def _compact(self) -> None:
        tmp = self.path.with_suffix(".compact")
        with tmp.open("wb") as f:
            for key, c in self._offsets.items():
                f.write(self._line(key, c.offset, c.metadata))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._lines = len(self._offsets)

    def commit(self, group: str, entries: list[tuple[str, int, int, str | None]]) -> None:
        """Store (topic, partition, offset, metadata) for ``group``; durable on return."""
        data = b"".join(self._line((group, t, p), o, m) for t, p, o, m in entries)
        os.write(self._fd, data)
        if self.fsync:
            os.fdatasync(self._fd)
        for t, p, o, m in entries:
            self._apply((group, t, p), o, m)
        self._lines += len(entries)

    def get(self, group: str, topic: str, partition: int) -> Committed | None:
        return self._offsets.get((group, topic, partition))

    def for_group(self, group: str) -> dict[tuple[str, int], Committed]:
        return {(t, p): c for (g, t, p), c in self._offsets.items() if g == group}

    def groups(self) -> set[str]:
        return {g for g, _t, _p in self._offsets}

    def forget_group(self, group: str,
                     partitions: set[tuple[str, int]] | None = None) -> None:
        """Drop a deleted group's offsets, or those of ``partitions`` only (durably:
        tombstones, fdatasynced)."""
        gone = [k for k in self._offsets if k[0] == group
                and (partitions is None or (k[1], k[2]) in partitions)]
        if gone:
            os.write(self._fd, b"".join(self._line(k, -1, None) for k in gone))
            if self.fsync:
                os.fdatasync(self._fd)
            for k in gone:
                del self._offsets[k]
            self._lines += len(gone)

    def forget_topic(self, topic: str) -> None:
        """Drop every group's offsets for a deleted topic."""
        gone = [k for k in self._offsets if k[1] == topic]
        if gone:
            data = b"".join(self._line(k, -1, None) for k in gone)
            os.write(self._fd, data)
            for k in gone:
                del self._offsets[k]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
