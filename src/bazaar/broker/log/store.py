"""The bottom layer: one append-only file, written sequentially, read by position."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO


def sync_directory(directory: Path) -> None:
    """fsync a directory, so entries created or removed in it are durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Store:
    """An append-only file. ``append`` writes at the end; ``size`` only counts whole appends.

    A second, read-only file object (``reader``) serves ``sendfile`` so reads never move the
    writer's position.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        created = not path.exists()
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        if created:
            sync_directory(path.parent)  # a new file's name must survive a power cut too
        self.size = os.fstat(self._fd).st_size
        self.reader: BinaryIO = open(path, "rb")  # noqa: SIM115 - lives as long as the store
        # bytes appended / bytes known synced: a flush running in a thread while the event
        # loop appends must not mark the newer bytes as synced
        self._appended = self.size
        self._synced = self.size
        self.broken = False

    def append(self, parts: Sequence[bytes | bytearray | memoryview]) -> int:
        """Write ``parts`` back to back at the end; return the position of the first byte.

        If the write fails (ENOSPC, EIO) part of it may have reached the file: it is cut back
        to where it was, so the next append starts at ``size`` again, and the error raised.
        If even that fails, :attr:`broken` is set: the file's end is no longer known.
        """
        position = self.size
        total = sum(len(p) for p in parts)
        try:
            written = os.writev(self._fd, parts)
            while written < total:  # short writes are rare but legal
                flat = b"".join(bytes(p) for p in parts)[written:]
                written += os.write(self._fd, flat)
        except OSError:
            try:
                os.ftruncate(self._fd, position)
            except OSError:
                self.broken = True
            raise
        self.size += total
        self._appended += total
        return position

    def read(self, position: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``position`` (fewer at the end of the file)."""
        return os.pread(self._fd, size, position)

    def flush(self) -> None:
        """fdatasync, if anything was appended since the last flush began (thread-safe)."""
        target = self._appended
        if target > self._synced:
            os.fdatasync(self._fd)
            self._synced = max(self._synced, target)

    def truncate(self, size: int) -> None:
        """Cut the file to ``size`` bytes (recovery drops a torn or corrupt tail)."""
        os.ftruncate(self._fd, size)
        os.fsync(self._fd)
        self.size = self._appended = self._synced = size

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1
            self.reader.close()
