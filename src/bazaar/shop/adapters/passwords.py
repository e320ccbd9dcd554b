"""Password hashing: argon2id with argon2-cffi's defaults (RFC 9106's second recommendation)."""

from __future__ import annotations

from argon2 import PasswordHasher


class Argon2Hasher:
    """Implements the services' ``PasswordHasher`` port; verification belongs to auth."""

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)
