"""Reads to standbys, writes to the primary, and read-your-writes by WAL position.

A write's response carries the primary's WAL position after its commit (an LSN token,
``0/3000148``). A later read that brings the token may go to a standby only once that
standby has *replayed* up to it (``pg_last_wal_replay_lsn() >= token``): then every row the
write committed is visible there. The router remembers each standby's replay position (a
background poll, and every check it makes), so most reads need no extra query; a standby not
there yet is asked again for up to ``wait_s``, then the read goes to the primary. A read
with no token goes to any standby not lagging more than ``max_lag_bytes``; a token that is
not an LSN is ignored (the read goes to the primary), so a forged cookie cannot break a read.

:class:`ReadRouter` has an engine's ``connect()``, so a read-side adapter takes it in place
of an engine. Which reads carry which token is said per request through context variables
(:func:`read_token`, :func:`pinned_to_primary`), set by the HTTP edge
(:mod:`bazaar.storage.consistency`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Connection, Engine, text

log = logging.getLogger("bazaar.storage.routing")

_LSN = re.compile(r"([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})")

#: The LSN token of the request being served (None: no read-your-writes promise).
_TOKEN: ContextVar[int | None] = ContextVar("bazaar_read_token", default=None)
#: Set while serving a write: every read in it sees the primary (its own uncommitted rows).
_PINNED: ContextVar[bool] = ContextVar("bazaar_read_pinned", default=False)


class Connectable(Protocol):
    """What a read needs: an engine, or a :class:`ReadRouter` standing in for one."""

    def connect(self) -> Connection: ...


def parse_lsn(value: str | None) -> int | None:
    """``"16/B374D848"`` → its 64-bit position; None for anything else (garbage, too long)."""
    if not value or len(value) > 17:
        return None
    found = _LSN.fullmatch(value.strip())
    if found is None:
        return None
    return (int(found.group(1), 16) << 32) | int(found.group(2), 16)


def format_lsn(position: int) -> str:
    """A position as PostgreSQL prints it: ``X/Y`` in upper-case hex."""
    if not 0 <= position < 1 << 64:
        raise ValueError(f"not a WAL position: {position}")
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@contextlib.contextmanager
def read_token(token: int | None) -> Iterator[None]:
    """Reads inside see at least WAL position ``token`` (their own earlier writes)."""
    reset = _TOKEN.set(token)
    try:
        yield
    finally:
        _TOKEN.reset(reset)


@contextlib.contextmanager
def pinned_to_primary() -> Iterator[None]:
    """Reads inside go to the primary (a write's own reads)."""
    reset = _PINNED.set(True)
    try:
        yield
    finally:
        _PINNED.reset(reset)


@dataclass(frozen=True)
class RoutingPolicy:
    """How far a standby may fall behind, and how long a read waits for one to catch up."""

    max_lag_bytes: int = 16 * 1024 * 1024
    wait_s: float = 0.05
    retry_every_s: float = 0.002
    poll_every_s: float = 0.1


class _Standby:
    def __init__(self, name: str, engine: Engine) -> None:
        self.name = name
        self.engine = engine
        self.replayed = 0  # the highest replay position seen
        self.healthy = True
        self.lag_bytes = 0


class ReadRouter:
    """Picks the engine for each read; counts where reads went (:attr:`counts`)."""

    def __init__(self, primary: Engine, standbys: Sequence[tuple[str, Engine]],
                 policy: RoutingPolicy | None = None) -> None:
        self.primary = primary
        self.policy = policy or RoutingPolicy()
        self._standbys = [_Standby(name, engine) for name, engine in standbys]
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self._primary_lsn = 0
        #: reads per node ("primary", each standby's name)
        self.reads: Counter[str] = Counter()
        #: why reads went where they did: waited (for a standby to catch up), token-ahead
        #: (no standby caught up in time), no-standby, standbys-lagging, standby-down,
        #: bad-token (counted by the HTTP edge)
        self.events: Counter[str] = Counter()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None

    # -- what a write hands back ---------------------------------------------------------
    def primary_lsn(self) -> int:
        """The primary's WAL write position now: after a commit, at or past its record."""
        with self.primary.connect() as conn:
            value = conn.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()
        position = parse_lsn(str(value))
        assert position is not None
        self._primary_lsn = max(self._primary_lsn, position)
        return position

    # -- the engine a read uses ----------------------------------------------------------
    def connect(self) -> Connection:
        """A connection for one read, on the node this request may read from."""
        self._ensure_poller()
        if _PINNED.get() or not self._standbys:
            return self._on_primary("" if _PINNED.get() else "no-standby")
        token = _TOKEN.get()
        start = next(self._turn)
        order = [self._standbys[(start + i) % len(self._standbys)]
                 for i in range(len(self._standbys))]
        candidates = [s for s in order if s.healthy
                      and s.lag_bytes <= self.policy.max_lag_bytes]
        if not candidates:
            return self._on_primary("standbys-lagging")
        if token is None:
            return self._on_standby(candidates[0])
        for standby in candidates:  # one whose replay position is known to be far enough
            if standby.replayed >= token:
                return self._on_standby(standby)
        deadline = time.monotonic() + self.policy.wait_s
        while True:
            for standby in candidates:
                conn = self._checked(standby, token)
                if conn is not None:
                    self.note("waited")
                    return self._counted(standby.name, conn)
            if time.monotonic() >= deadline:
                return self._on_primary("token-ahead")
            time.sleep(self.policy.retry_every_s)

    def _checked(self, standby: _Standby, token: int) -> Connection | None:
        """A connection to ``standby`` if it has replayed up to ``token`` (it only moves
        forward, so what the check saw holds for the read that follows)."""
        try:
            conn = standby.engine.connect()
        except Exception:
            standby.healthy = False
            return None
        try:
            replayed = parse_lsn(str(conn.execute(
                text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()))
            conn.rollback()
        except Exception:
            conn.close()
            standby.healthy = False
            return None
        if replayed is not None:
            standby.replayed = max(standby.replayed, replayed)
        if replayed is not None and replayed >= token:
            return conn
        conn.close()
        return None

    def _on_standby(self, standby: _Standby) -> Connection:
        try:
            return self._counted(standby.name, standby.engine.connect())
        except Exception:
            standby.healthy = False
            log.warning("standby %s unreachable; reading from the primary", standby.name)
            return self._on_primary("standby-down")

    def _on_primary(self, why: str) -> Connection:
        if why:
            self.note(why)
        return self._counted("primary", self.primary.connect())

    def _counted(self, name: str, conn: Connection) -> Connection:
        with self._lock:
            self.reads[name] += 1
        return conn

    def note(self, event: str) -> None:
        with self._lock:
            self.events[event] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{node: {"reads": n}}`` and ``{event: {"events": n}}``, for /metrics."""
        with self._lock:
            out = {node: {"reads": n} for node, n in self.reads.items()}
            out.update({event: {"events": n} for event, n in self.events.items()})
        return out

    # -- knowing where the standbys are --------------------------------------------------
    def poll(self) -> None:
        """Refresh the primary's position and each standby's replay position and health."""
        try:
            self.primary_lsn()
        except Exception:
            log.warning("primary unreachable while polling", exc_info=True)
        for standby in self._standbys:
            try:
                with standby.engine.connect() as conn:
                    value = conn.execute(
                        text("SELECT pg_last_wal_replay_lsn()::text")).scalar_one()
            except Exception:
                standby.healthy = False
                continue
            replayed = parse_lsn(str(value)) or 0
            standby.replayed = max(standby.replayed, replayed)
            standby.lag_bytes = max(0, self._primary_lsn - replayed)
            standby.healthy = True

    def _ensure_poller(self) -> None:
        if self._poller is not None or self._stop.is_set():
            return
        with self._lock:
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll_loop, daemon=True,
                                                name="bazaar-replica-poll")
                self._poller.start()

    def _poll_loop(self) -> None:
        while not self._stop.wait(self.policy.poll_every_s):
            self.poll()

    def standbys(self) -> list[dict[str, object]]:
        """Each standby: name, healthy, replayed position, lag in bytes (as last seen)."""
        return [{"name": s.name, "healthy": s.healthy, "replayed": format_lsn(s.replayed),
                 "lag_bytes": s.lag_bytes} for s in self._standbys]

    def close(self) -> None:
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        for standby in self._standbys:
            standby.engine.dispose()
