"""A JSON file one writer (the CLI) replaces atomically and the broker re-reads when it
changes, at most every ``recheck_s`` seconds (a ``stat``)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from bazaar.broker._errors import ConfigError


class WatchedJson:
    def __init__(self, path: Path, empty: dict[str, Any], recheck_s: float = 0.5) -> None:
        self.path = path
        self.empty = empty
        self.recheck_s = recheck_s
        self._stamp: tuple[int, int] | None = None
        self._checked = -1e9
        self.data: dict[str, Any] = json.loads(json.dumps(empty))
        self.reload()

    def reload(self) -> bool:
        """Read the file again if it changed; True if it did."""
        self._checked = time.monotonic()
        try:
            st = self.path.stat()
        except FileNotFoundError:
            changed = self._stamp is not None
            self._stamp = None
            if changed:
                self.data = json.loads(json.dumps(self.empty))
            return changed
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return False
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{self.path} is unreadable: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{self.path} is not a JSON object")
        self.data, self._stamp = data, stamp
        return True

    def maybe_reload(self) -> None:
        if time.monotonic() - self._checked >= self.recheck_s:
            try:
                self.reload()
            except ConfigError:  # a broken edit keeps the last good state
                self._checked = time.monotonic()

    def save(self) -> None:
        """Write atomically (temporary file, fsync, rename), owner-only permissions."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        st = self.path.stat()
        self._stamp = (st.st_mtime_ns, st.st_size)
