"""Typed limits for one HTTP listener (sizes in bytes, times in seconds)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one listener accepts before it stops reading.

    ``max_body`` is checked against ``Content-Length`` before a byte of the body is read,
    and against the running total of a chunked body as it streams. ``body_timeout_s`` is the
    longest wait for the next piece of a body; ``header_timeout_s`` the longest a request's
    head may take to arrive; ``keep_alive_s`` how long an idle connection stays open;
    ``max_connections`` the connection cap (beyond it: 503); ``max_header_bytes`` the size of
    a request head (beyond it: 431); ``linger_s`` how long a closed connection keeps
    discarding what the client still sends.
    """

    max_body: int = 1024 * 1024
    body_timeout_s: float = 10.0
    header_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 1000
    max_header_bytes: int = 64 * 1024
    #: After refusing a body, how long to keep discarding it so the client reads the answer.
    linger_s: float = 2.0

    def __post_init__(self) -> None:
        for name in ("max_body", "max_connections", "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        for name in ("body_timeout_s", "header_timeout_s", "keep_alive_s", "linger_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
