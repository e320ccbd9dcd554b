"""One exception tree for ``bazaar.auth``; the edge maps it to HTTP problem details.

Every refusal carries a short machine-readable ``reason`` (``bad-signature``, ``expired``, …)
that is safe to show to the client: it never contains key material or the signature base.
"""

from __future__ import annotations


class AuthError(Exception):
    """Base of every error raised by ``bazaar.auth``."""


class ConfigError(AuthError):
    """Auth was configured with a value it cannot use (bad master key, bad origin, …)."""


class AuthenticationFailed(AuthError):
    """A request could not be authenticated; ``reason`` says why, in a stable word."""

    status = 401

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail or reason


class SignatureError(AuthenticationFailed):
    """An RFC 9421 signature was missing, malformed, stale, replayed or wrong."""


class TokenError(AuthenticationFailed):
    """A bearer or refresh token was malformed, expired, revoked or not ours."""


class InvalidCredentials(AuthenticationFailed):
    """Username and password did not match (deliberately silent about which)."""

    def __init__(self) -> None:
        super().__init__("invalid-credentials", "username or password is wrong")


class RateLimited(AuthError):
    """Too many requests for one principal (or too many failures); retry after a delay."""

    status = 429

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(f"{reason}: retry after {retry_after:.1f}s")
        self.reason = reason
        self.retry_after = retry_after


class AuthUnavailable(AuthError):
    """A store auth depends on (Redis, the database) failed: refuse (503), never let in."""

    status = 503

    def __init__(self, detail: str = "authentication is temporarily unavailable") -> None:
        super().__init__(detail)
        self.reason = "auth-unavailable"
        self.detail = detail


class AppNotFound(AuthError):
    """No app (or no such key of an app) with that id."""


class AppKeyLimit(AuthError):
    """An app already has the maximum number of active keys; revoke one first."""
