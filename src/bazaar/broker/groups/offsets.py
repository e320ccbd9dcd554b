"""Committed offsets, durable: one journal line (:mod:`bazaar.broker._journal`) per offset,
fdatasynced on commit, compacted on start when it has grown well past the live entries.

A torn last line (a crash mid-write) is cut off, so a commit is either acknowledged and on
disk, or neither. Forgetting (a deleted group or topic) writes tombstones, also durably.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bazaar.broker._journal import Journal

Key = tuple[str, str, int]  # group, topic, partition


@dataclass(frozen=True, slots=True)
class Committed:
    offset: int
    metadata: str | None


class OffsetStore:
    """(group, topic, partition) → committed offset, kept on disk at ``path``."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.path = path
        self._journal = Journal(path, fsync=fsync)
        self._offsets: dict[Key, Committed] = {}
        for value in self._journal.replay():
            try:
                group, topic, partition, offset, metadata = value
                self._apply((str(group), str(topic), int(partition)), int(offset),
                            None if metadata is None else str(metadata))
            except (ValueError, TypeError):
                continue  # not an offset line: never written by this store
        if self._journal.bloated(len(self._offsets)):
            self._journal.rewrite([*k, c.offset, c.metadata] for k, c in self._offsets.items())

    def _apply(self, key: Key, offset: int, metadata: str | None) -> None:
        if offset < 0:
            self._offsets.pop(key, None)
        else:
            self._offsets[key] = Committed(offset, metadata)

    def commit(self, group: str, entries: list[tuple[str, int, int, str | None]]) -> None:
        """Store (topic, partition, offset, metadata) for ``group``; durable on return."""
        self._journal.append([group, t, p, o, m] for t, p, o, m in entries)
        for t, p, o, m in entries:
            self._apply((group, t, p), o, m)

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
        self._forget(gone)

    def forget_topic(self, topic: str) -> None:
        """Drop every group's offsets for a deleted topic."""
        self._forget([k for k in self._offsets if k[1] == topic])

    def _forget(self, gone: list[Key]) -> None:
        """Tombstones (offset -1) for ``gone``, durable before they are dropped here."""
        self._journal.append([*k, -1, None] for k in gone)
        for k in gone:
            del self._offsets[k]

    def close(self) -> None:
        self._journal.close()
