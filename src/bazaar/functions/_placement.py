"""Placement: which worker host gets a new sandbox. Pure bookkeeping, no I/O.

A host offers memory and sandbox slots; each sandbox reserves its function's memory and one
slot until it is gone. A new sandbox goes to the host with the most free memory (spreading load
and blast radius); when no host has room, :class:`NoCapacity`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bazaar.functions._errors import NoCapacity
from bazaar.functions._model import HostInfo


@dataclass
class _Host:
    memory_mb: int
    slots: int
    used_memory_mb: int = 0
    used_slots: int = 0


class Placement:
    """Tracks host capacity and reservations."""

    def __init__(self) -> None:
        self._hosts: dict[str, _Host] = {}

    def add(self, host_id: str, memory_mb: int, slots: int) -> None:
        """A host registered (or re-registered: its reservations start from zero)."""
        if memory_mb <= 0 or slots <= 0:
            raise ValueError("a host needs positive memory and slots")
        self._hosts[host_id] = _Host(memory_mb, slots)

    def remove(self, host_id: str) -> None:
        """A host is gone; its reservations go with it."""
        self._hosts.pop(host_id, None)

    def place(self, memory_mb: int) -> str:
        """Reserve room for one sandbox; return the chosen host. Raises NoCapacity."""
        best: tuple[int, str] | None = None
        for host_id, host in self._hosts.items():
            free = host.memory_mb - host.used_memory_mb
            if free >= memory_mb and host.used_slots < host.slots and (
                    best is None or free > best[0]):
                best = (free, host_id)
        if best is None:
            raise NoCapacity(f"no worker host has {memory_mb} MB and a free slot "
                             f"({len(self._hosts)} host(s) registered)")
        host = self._hosts[best[1]]
        host.used_memory_mb += memory_mb
        host.used_slots += 1
        return best[1]

    def release(self, host_id: str, memory_mb: int) -> None:
        """A sandbox on ``host_id`` is gone. Unknown hosts are ignored (already removed)."""
        host = self._hosts.get(host_id)
        if host is not None:
            host.used_memory_mb = max(0, host.used_memory_mb - memory_mb)
            host.used_slots = max(0, host.used_slots - 1)

    def hosts(self) -> list[HostInfo]:
        return [HostInfo(host_id, h.memory_mb, h.slots, h.used_memory_mb, h.used_slots)
                for host_id, h in sorted(self._hosts.items())]
