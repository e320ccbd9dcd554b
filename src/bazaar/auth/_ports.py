"""What auth needs from its host application, and what it hands back.

The shop (or any app) plugs in by implementing :class:`CredentialStore`; auth never imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True, slots=True)
class Credential:
    """A user as auth sees it: an id, a stored argon2 hash, and the scopes they hold."""

    user_id: str
    username: str
    password_hash: str
    scopes: frozenset[str] = field(default_factory=frozenset)


class CredentialStore(Protocol):
    """Users with passwords. Implemented by the host application (e.g. the shop's users)."""

    def find_by_username(self, username: str) -> Credential | None:
        """The user with that username, or None."""
        ...

    def update_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace the stored hash (after a successful login with outdated parameters)."""
        ...


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made an authenticated request: a user (bearer token) or an app (an RFC 9421 HMAC
    signature, or AWS SigV4 with the app id as access key id)."""

    kind: Literal["user", "app"]
    id: str
    scopes: frozenset[str]
    scheme: Literal["bearer", "signature", "sigv4"]
    #: The access token's ``jti``, or the signing app's key index; for audit and revocation.
    credential_id: str = ""
